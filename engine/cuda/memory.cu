#include <cuda_runtime.h>

#include "engine/cuda/memory.h"
#include "engine/error.h"

namespace qs::engine::cuda {

namespace {

void check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) fail("CUDA error in {}: {} ({})", call, cudaGetErrorString(err), static_cast<int>(err));
}

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

void* alloc(int device, std::size_t nbytes) {
  check(cudaSetDevice(device), "cudaSetDevice");
  void* p = nullptr;
  check(cudaMalloc(&p, nbytes == 0 ? 1 : nbytes), "cudaMalloc");
  return p;
}

void free(int device, void* ptr, std::size_t) {
  cudaSetDevice(device);
  cudaFree(ptr);  // never throw from a destructor path
}

void copy(void* dst, int dst_device, const void* src, int src_device, std::size_t nbytes) {
  cudaMemcpyKind kind = dst_device < 0 ? cudaMemcpyDeviceToHost
                        : src_device < 0 ? cudaMemcpyHostToDevice
                                         : cudaMemcpyDeviceToDevice;
  check(cudaSetDevice(dst_device >= 0 ? dst_device : src_device), "cudaSetDevice");
  check(cudaMemcpy(dst, src, nbytes, kind), "cudaMemcpy");
}

}  // namespace qs::engine::cuda
