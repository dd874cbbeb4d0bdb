#pragma once
// The CUDA runtime behind engine/backend.h: a caching device allocator, one
// stream per device, copies, and error checking. Plain C++17 (no engine
// headers beyond dtype), so both .cpp and .cu sources include it.
#include <cstddef>
#include <cstdint>

namespace qs::engine::cuda {

int device_count();  // 0 when no GPU is visible (never throws for that)
void set_device(int device);
int current_device();
// The stream every kernel of the current device runs on (created on first use).
void* stream();  // cudaStream_t, kept opaque so C++ sources need no CUDA headers
void synchronize(int device);

// Device memory. Freed blocks stay cached by exact size and are reused by the
// next allocation of that size on the same stream (so no cudaMalloc/cudaFree
// per op); when cudaMalloc fails the cache is released and the call retried.
void* alloc(int device, std::size_t nbytes);
void free(int device, void* ptr, std::size_t nbytes);
struct MemoryStats {
  std::size_t in_use = 0;  // bytes handed out to tensors
  std::size_t peak = 0;    // maximum of in_use since the last reset
  std::size_t cached = 0;  // bytes held in free lists
  int64_t device_mallocs = 0;  // cudaMalloc calls so far
};
MemoryStats memory_stats(int device);
void reset_peak(int device);
void release_cache(int device);

// device -1 means host memory. Copies that touch the host wait for the
// stream; device-to-device copies are queued on it.
void copy(void* dst, int dst_device, const void* src, int src_device, std::size_t nbytes);

// Error checking: throws qs::Error naming the call and CUDA's error string.
void check(int cuda_error, const char* call);
void check_launch(const char* kernel);  // cudaGetLastError after a launch

// TF32 for f32 matmuls (off by default: f32 stays f32 unless asked).
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace qs::engine::cuda
