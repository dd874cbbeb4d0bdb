#pragma once
// Shared by the CUDA kernels: element types, index arithmetic over Views,
// launch shapes, dtype dispatch and block reductions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/cuda/runtime.h"
#include "engine/cuda/view.h"
#include "engine/error.h"

namespace qs::engine::cuda {

inline cudaStream_t current_stream() { return static_cast<cudaStream_t>(stream()); }

// Compute type: half types compute in f32, the rest in themselves.
template <class T> struct Acc { using type = T; };
template <> struct Acc<__nv_bfloat16> { using type = float; };
template <> struct Acc<__half> { using type = float; };
template <class T> using acc_t = typename Acc<T>::type;

template <class T>
__device__ __forceinline__ acc_t<T> load(const T* p) { return static_cast<acc_t<T>>(*p); }
template <>
__device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
template <>
__device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }

template <class T, class A>
__device__ __forceinline__ T cast_to(A v) { return static_cast<T>(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 cast_to<__nv_bfloat16, float>(float v) { return __float2bfloat16(v); }
template <>
__device__ __forceinline__ __half cast_to<__half, float>(float v) { return __float2half(v); }

// Offset (elements) of logical element i of a view.
__device__ __forceinline__ int64_t offset_of(const View& v, int64_t i) {
  if (v.contiguous) return i;
  int64_t off = 0;
  for (int d = v.dims - 1; d >= 0; --d) {
    const int64_t s = v.size[d];
    off += (i % s) * v.stride[d];
    i /= s;
  }
  return off;
}

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b > 65535 * 16 ? 65535 * 16 : b);  // grid-stride beyond
}

#define QS_GRID_STRIDE(i, n)                                                    \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

template <class T>
struct Tag {
  using type = T;
};

// f(Tag<T>{}) for the floating dtypes (halves included when `halves`).
template <class F>
void dispatch_floating(const char* op, DType dtype, F&& f, bool halves = true) {
  switch (dtype) {
    case DType::f32: f(Tag<float>{}); return;
    case DType::f64: f(Tag<double>{}); return;
    case DType::bf16: if (halves) { f(Tag<__nv_bfloat16>{}); return; } break;
    case DType::f16: if (halves) { f(Tag<__half>{}); return; } break;
    default: break;
  }
  fail("{}: dtype {} is not supported by the CUDA kernel", op, dtype_name(dtype));
}

template <class F>
void dispatch_all(const char* op, DType dtype, F&& f) {
  switch (dtype) {
    case DType::i32: f(Tag<int32_t>{}); return;
    case DType::i64: f(Tag<int64_t>{}); return;
    case DType::u8: f(Tag<uint8_t>{}); return;
    default: dispatch_floating(op, dtype, f);
  }
}

// Sum and max over a block (blockDim.x a multiple of 32, at most 1024);
// every thread gets the result. `scratch` holds 32 values.
template <class A>
__device__ A block_sum(A v, A* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = threadIdx.x < (blockDim.x >> 5) ? scratch[threadIdx.x] : A(0);
  if (warp == 0) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) scratch[0] = v;
  }
  __syncthreads();
  return scratch[0];
}

template <class A>
__device__ A block_max(A v, A* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = threadIdx.x < (blockDim.x >> 5) ? scratch[threadIdx.x] : scratch[0];
  if (warp == 0) {
    for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) scratch[0] = v;
  }
  __syncthreads();
  return scratch[0];
}

// Device memory for one call on the current device, back to the caching
// allocator at scope exit (stream-ordered: only later work reuses it).
class Scratch {
 public:
  explicit Scratch(std::size_t bytes) : device_(current_device()), bytes_(bytes), ptr_(alloc(device_, bytes)) {}
  ~Scratch() { free(device_, ptr_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  int device() const { return device_; }

 private:
  int device_;
  std::size_t bytes_;
  void* ptr_;
};

// Threads per block for a row of n elements: enough to cover it, 32..1024.
inline int row_threads(int64_t n) {
  int t = 32;
  while (t < 1024 && t < n) t <<= 1;
  return t;
}

// Typed pointers of a view's data.
template <class T>
const T* cptr(const View& v) {
  return static_cast<const T*>(v.data);
}
template <class T>
T* mptr(const View& v) {
  return static_cast<T*>(v.data);
}

}  // namespace qs::engine::cuda
