// Softmax and log-softmax, one block per row. Statistics accumulate in f32 for
// f32/halves and in f64 for f64; inputs are contiguous (engine/ops makes them
// so).
#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

template <class T>
__global__ void softmax_kernel(const T* x, T* y, int64_t d, bool log_out) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const T* xr = x + static_cast<int64_t>(blockIdx.x) * d;
  T* yr = y + static_cast<int64_t>(blockIdx.x) * d;
  A mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) mx = max(mx, load(xr + i));
  mx = block_max(mx, scratch);
  if (mx == A(-INFINITY)) {
    // Every position masked: attend nowhere (zeros) instead of 0/0 = NaN.
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = cast_to<T>(log_out ? mx : A(0));
    return;
  }
  A s = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += exp(load(xr + i) - mx);
  s = block_sum(s, scratch);
  if (log_out) {
    const A lse = mx + log(s);
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = cast_to<T>(load(xr + i) - lse);
  } else {
    const A inv = A(1) / s;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = cast_to<T>(exp(load(xr + i) - mx) * inv);
  }
}

template <class T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, int64_t d, bool log_out) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * d;
  A s = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    s += log_out ? load(dy + base + i) : load(dy + base + i) * load(y + base + i);
  }
  s = block_sum(s, scratch);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const A yi = load(y + base + i), gi = load(dy + base + i);
    dx[base + i] = cast_to<T>(log_out ? gi - exp(yi) * s : yi * (gi - s));
  }
}

}  // namespace

void softmax(const Tensor& x, const Tensor& out, bool log) {
  View xv = view_of(x), ov = view_of(out);
  const int64_t d = xv.last, rows = d ? xv.numel / d : 0;
  if (rows == 0) return;
  dispatch_floating("softmax", xv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_kernel<T><<<static_cast<unsigned>(rows), row_threads(d), 0, current_stream()>>>(
        cptr<T>(xv), mptr<T>(ov), d, log);
  });
  check_launch("softmax_kernel");
}

void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) {
  View yv = view_of(y), gv = view_of(dy), ov = view_of(dx);
  const int64_t d = yv.last, rows = d ? yv.numel / d : 0;
  if (rows == 0) return;
  dispatch_floating("softmax_backward", yv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_backward_kernel<T><<<static_cast<unsigned>(rows), row_threads(d), 0, current_stream()>>>(
        cptr<T>(yv), cptr<T>(gv), mptr<T>(ov), d, log);
  });
  check_launch("softmax_backward_kernel");
}

}  // namespace qs::engine::cuda
