#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

#include "engine/cuda/runtime.h"
#include "engine/error.h"

namespace qs::engine::cuda {

void check(int err, const char* call) {
  if (err != cudaSuccess) {
    auto e = static_cast<cudaError_t>(err);
    fail("CUDA error in {}: {} ({})", call, cudaGetErrorString(e), err);
  }
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

namespace {

constexpr int kMaxDevices = 16;

struct DeviceState {
  std::mutex mu;
  cudaStream_t stream = nullptr;
  std::map<std::size_t, std::vector<void*>> free_blocks;  // by rounded size
  MemoryStats stats;
};

DeviceState& state(int device) {
  // Never destroyed: CUDA may already be torn down when static destructors run.
  static DeviceState* states = new DeviceState[kMaxDevices];
  QS_CHECK(device >= 0 && device < kMaxDevices, "cuda: device index {} out of range", device);
  return states[device];
}

// Sizes are rounded so that shapes that differ a little share blocks.
std::size_t rounded(std::size_t n) {
  if (n <= 512) return 512;
  if (n < (std::size_t{1} << 20)) return (n + 511) / 512 * 512;
  return (n + (std::size_t{1} << 20) - 1) >> 20 << 20;  // whole MiB
}

bool allow_tf32_flag = false;

}  // namespace

int current_device() {
  int d = 0;
  check(cudaGetDevice(&d), "cudaGetDevice");
  return d;
}

void set_device(int device) { check(cudaSetDevice(device), "cudaSetDevice"); }

void* stream() {
  DeviceState& s = state(current_device());
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.stream) check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  return s.stream;
}

void synchronize(int device) {
  set_device(device);
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream())), "cudaStreamSynchronize");
}

void* alloc(int device, std::size_t nbytes) {
  set_device(device);
  DeviceState& s = state(device);
  const std::size_t size = rounded(nbytes);
  std::lock_guard<std::mutex> lock(s.mu);
  void* p = nullptr;
  auto it = s.free_blocks.find(size);
  if (it != s.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    s.stats.cached -= size;
  } else {
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      // Give the cache back to the driver and try once more.
      cudaDeviceSynchronize();
      for (auto& [sz, blocks] : s.free_blocks) {
        for (void* b : blocks) cudaFree(b);
      }
      s.free_blocks.clear();
      s.stats.cached = 0;
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      fail("CUDA error in cudaMalloc: {} allocating {} bytes on cuda:{} ({} in use)",
           cudaGetErrorString(err), size, device, s.stats.in_use);
    }
    ++s.stats.device_mallocs;
  }
  s.stats.in_use += size;
  if (s.stats.in_use > s.stats.peak) s.stats.peak = s.stats.in_use;
  return p;
}

void free(int device, void* ptr, std::size_t nbytes) {
  if (!ptr) return;
  DeviceState& s = state(device);
  const std::size_t size = rounded(nbytes);
  std::lock_guard<std::mutex> lock(s.mu);
  // Kernels run in stream order, so a block freed here is only reused by work
  // queued after the work that last read it.
  s.free_blocks[size].push_back(ptr);
  s.stats.in_use -= size;
  s.stats.cached += size;
}

MemoryStats memory_stats(int device) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  return s.stats;
}

void reset_peak(int device) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  s.stats.peak = s.stats.in_use;
}

void release_cache(int device) {
  synchronize(device);
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  for (auto& [sz, blocks] : s.free_blocks) {
    for (void* b : blocks) cudaFree(b);
  }
  s.free_blocks.clear();
  s.stats.cached = 0;
}

void copy(void* dst, int dst_device, const void* src, int src_device, std::size_t nbytes) {
  const int device = dst_device >= 0 ? dst_device : src_device;
  set_device(device);
  auto st = static_cast<cudaStream_t>(stream());
  if (dst_device >= 0 && src_device >= 0) {
    if (dst_device == src_device) {
      check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, st), "cudaMemcpyAsync");
    } else {
      synchronize(src_device);
      set_device(device);
      check(cudaMemcpyPeerAsync(dst, dst_device, src, src_device, nbytes, st), "cudaMemcpyPeerAsync");
    }
    return;
  }
  const cudaMemcpyKind kind = dst_device < 0 ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice;
  check(cudaMemcpyAsync(dst, src, nbytes, kind, st), "cudaMemcpyAsync");
  // Host memory is pageable and may be reused as soon as we return.
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize");
}

void set_allow_tf32(bool allow) { allow_tf32_flag = allow; }
bool allow_tf32() { return allow_tf32_flag; }

}  // namespace qs::engine::cuda
