#pragma once
// The dispatch point between backends: memory, copies and the device an op
// runs on. An op checks its arguments, asks op_device() where to run, and
// calls the CPU kernel (engine/cpu) or the CUDA kernel (engine/cuda).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "engine/device.h"

namespace qs::engine {

class Tensor;

bool cuda_built();        // compiled with the CUDA backend
int cuda_device_count();  // 0 when not built or no GPU is visible

// GPU memory of the caching allocator (all zeros without a CUDA build).
struct DeviceMemoryStats {
  std::size_t in_use = 0, peak = 0, cached = 0;
  int64_t device_mallocs = 0;  // cudaMalloc calls so far
};
DeviceMemoryStats cuda_memory_stats(int device = 0);
void cuda_reset_peak(int device = 0);
// Waits for the device's stream (for timing; reading a tensor back waits anyway).
void cuda_synchronize(int device = 0);
// TF32 tensor cores for f32 matmuls (off by default).
void cuda_set_allow_tf32(bool allow);

void* device_alloc(Device device, std::size_t nbytes);
void device_free(Device device, void* ptr, std::size_t nbytes);
// Copies nbytes between any two devices (contiguous bytes).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t nbytes);

// "cpu", "cuda" (GPU 0) or "cuda:N", checked against this build and the GPUs
// visible; the error names the text and what is missing.
Device parse_device(std::string_view text);

// The device shared by all defined tensors; an error naming the op otherwise.
Device op_device(std::string_view op, std::initializer_list<const Tensor*> tensors);
// The error for an op that has no kernel on `device` in this build.
[[noreturn]] void no_kernel(std::string_view op, Device device);

}  // namespace qs::engine
