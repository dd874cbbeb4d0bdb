#pragma once
// The dispatch point between backends: memory, copies and the device an op
// runs on. An op checks its arguments, asks op_device() where to run, and
// calls the CPU kernel (engine/cpu) or the CUDA kernel (engine/cuda).
#include <cstddef>
#include <initializer_list>
#include <string_view>

#include "engine/device.h"

namespace qs::engine {

class Tensor;

bool cuda_built();        // compiled with the CUDA backend
int cuda_device_count();  // 0 when not built or no GPU is visible

void* device_alloc(Device device, std::size_t nbytes);
void device_free(Device device, void* ptr, std::size_t nbytes);
// Copies nbytes between any two devices (contiguous bytes).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t nbytes);

// The device shared by all defined tensors; an error naming the op otherwise.
Device op_device(std::string_view op, std::initializer_list<const Tensor*> tensors);
// The error for an op that has no kernel on `device` in this build.
[[noreturn]] void no_kernel(std::string_view op, Device device);

}  // namespace qs::engine
