#include "engine/backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/cpu/host_allocator.h"
#include "engine/error.h"
#include "engine/tensor.h"

#ifdef QSLAW_WITH_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace qs::engine {


bool cuda_built() {
#ifdef QSLAW_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef QSLAW_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

DeviceMemoryStats cuda_memory_stats(int device) {
#ifdef QSLAW_WITH_CUDA
  if (cuda::device_count() == 0) return {};
  cuda::MemoryStats s = cuda::memory_stats(device);
  return {s.in_use, s.peak, s.cached, s.device_mallocs};
#else
  (void)device;
  return {};
#endif
}

void cuda_reset_peak(int device) {
#ifdef QSLAW_WITH_CUDA
  if (cuda::device_count() > 0) cuda::reset_peak(device);
#else
  (void)device;
#endif
}

void cuda_synchronize(int device) {
#ifdef QSLAW_WITH_CUDA
  if (cuda::device_count() > 0) cuda::synchronize(device);
#else
  (void)device;
#endif
}

void cuda_set_allow_tf32(bool allow) {
#ifdef QSLAW_WITH_CUDA
  cuda::set_allow_tf32(allow);
#else
  (void)allow;
#endif
}

void* device_alloc(Device device, std::size_t nbytes) {
  if (device.is_cpu()) return cpu::host_alloc(nbytes);
#ifdef QSLAW_WITH_CUDA
  return cuda::alloc(device.index, nbytes);
#else
  no_kernel("alloc", device);
#endif
}

void device_free(Device device, void* ptr, std::size_t nbytes) {
  if (!ptr) return;
  if (device.is_cpu()) {
    cpu::host_free(ptr, nbytes);
    return;
  }
#ifdef QSLAW_WITH_CUDA
  cuda::free(device.index, ptr, nbytes);
#endif
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                std::size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, nbytes);
    return;
  }
#ifdef QSLAW_WITH_CUDA
  cuda::copy(dst, dst_device.is_cuda() ? dst_device.index : -1, src,
             src_device.is_cuda() ? src_device.index : -1, nbytes);
#else
  no_kernel("copy", dst_device.is_cuda() ? dst_device : src_device);
#endif
}

Device parse_device(std::string_view text) {
  if (text == "cpu") return Device::cpu();
  int index = 0;
  if (text.rfind("cuda:", 0) == 0) {
    const std::string digits(text.substr(5));
    QS_CHECK(!digits.empty() && digits.size() <= 4 && digits.find_first_not_of("0123456789") == std::string::npos,
             "device '{}': expected cpu, cuda or cuda:N (N < 10000)", text);
    index = std::stoi(digits);
  } else if (text != "cuda") {
    fail("device '{}': expected cpu, cuda or cuda:N", text);
  }
  QS_CHECK(cuda_built(), "device '{}': this build has no CUDA backend (configure with QSLAW_CUDA=ON)", text);
  const int n = cuda_device_count();
  QS_CHECK(index < n, "device '{}': {} GPU(s) visible", text, n);
  return Device::cuda(index);
}

Device op_device(std::string_view op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t || !t->defined()) continue;
    if (!first) {
      first = t;
    } else if (!(t->device() == first->device())) {
      fail("{}: tensors on different devices ({} and {})", op, first->device().str(),
           t->device().str());
    }
  }
  return first ? first->device() : Device::cpu();
}

void no_kernel(std::string_view op, Device device) {
  if (device.is_cuda() && !cuda_built()) {
    fail("{}: tensor on {} but this build has no CUDA backend (configure with QSLAW_CUDA=ON)",
         op, device.str());
  }
  fail("{}: no kernel for device {}", op, device.str());
}

}  // namespace qs::engine
