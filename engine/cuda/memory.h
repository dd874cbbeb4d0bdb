#pragma once
// CUDA device memory and copies, behind engine/backend.h. Errors become
// qs::Error naming the call and CUDA's error string.
#include <cstddef>

namespace qs::engine::cuda {

int device_count();  // 0 when no GPU is visible (never throws for that)
void* alloc(int device, std::size_t nbytes);
void free(int device, void* ptr, std::size_t nbytes);
// device -1 means host memory.
void copy(void* dst, int dst_device, const void* src, int src_device, std::size_t nbytes);

}  // namespace qs::engine::cuda
