// Cross-entropy, one block per row, with a fixed-order mean over rows.
// Statistics accumulate in f32 for f32/halves and in f64 for f64; inputs are
// contiguous (engine/ops makes them so).
#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

// Per row: loss (lse - logit[target]) and, when dlogits is given,
// (softmax - onehot) * scale. Row losses land in row_loss for a fixed-order sum.
template <class T>
__global__ void cross_entropy_kernel(const T* logits, const int64_t* targets, int64_t ignore,
                                     int64_t v, double* row_loss, T* dlogits,
                                     const double* scale) {
  __shared__ double scratch[32];
  const int64_t r = blockIdx.x;
  const T* row = logits + r * v;
  const int64_t t = targets[r];
  if (t == ignore) {
    if (threadIdx.x == 0 && row_loss) row_loss[r] = 0.0;
    if (dlogits) {
      for (int64_t i = threadIdx.x; i < v; i += blockDim.x) dlogits[r * v + i] = cast_to<T>(acc_t<T>(0));
    }
    return;
  }
  double mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < v; i += blockDim.x) mx = max(mx, static_cast<double>(load(row + i)));
  mx = block_max(mx, scratch);
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < v; i += blockDim.x) s += exp(static_cast<double>(load(row + i)) - mx);
  const double lse = mx + log(block_sum(s, scratch));
  if (threadIdx.x == 0 && row_loss) row_loss[r] = lse - static_cast<double>(load(row + t));
  if (dlogits) {
    const double k = *scale;
    for (int64_t i = threadIdx.x; i < v; i += blockDim.x) {
      double g = exp(static_cast<double>(load(row + i)) - lse) * k;
      if (i == t) g -= k;
      dlogits[r * v + i] = cast_to<T>(static_cast<acc_t<T>>(g));
    }
  }
}

// Mean over the rows that count, summed in row order (deterministic); writes
// the loss, or the per-row gradient scale grad / count.
template <class T>
__global__ void cross_entropy_total_kernel(const double* row_loss, const int64_t* targets,
                                           int64_t ignore, int64_t n, T* loss, double grad,
                                           double* scale) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double total = 0.0;
  int64_t count = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (targets[r] == ignore) continue;
    if (row_loss) total += row_loss[r];
    ++count;
  }
  if (loss) *loss = cast_to<T>(static_cast<acc_t<T>>(count ? total / count : 0.0));
  if (scale) *scale = count ? grad / count : 0.0;
}

}  // namespace

void cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                   const Tensor& loss) {
  View lv = view_of(logits), tv = view_of(targets), out = view_of(loss);
  const int64_t v = lv.last, n = tv.numel;
  Scratch rows(sizeof(double) * (n > 0 ? n : 1));
  dispatch_floating("cross_entropy", lv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n > 0) {
      cross_entropy_kernel<T><<<static_cast<unsigned>(n), row_threads(v), 0, current_stream()>>>(
          cptr<T>(lv), cptr<int64_t>(tv), ignore_index, v, rows.as<double>(), nullptr, nullptr);
    }
    cross_entropy_total_kernel<T><<<1, 32, 0, current_stream()>>>(
        rows.as<double>(), cptr<int64_t>(tv), ignore_index, n, mptr<T>(out), 0.0, nullptr);
  });
  check_launch("cross_entropy_kernel");
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                            double grad, const Tensor& dlogits) {
  View lv = view_of(logits), tv = view_of(targets), gv = view_of(dlogits);
  const int64_t v = lv.last, n = tv.numel;
  if (n == 0) return;
  Scratch scale(sizeof(double));
  dispatch_floating("cross_entropy_backward", lv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cross_entropy_total_kernel<T><<<1, 32, 0, current_stream()>>>(
        nullptr, cptr<int64_t>(tv), ignore_index, n, static_cast<T*>(nullptr), grad,
        scale.as<double>());
    cross_entropy_kernel<T><<<static_cast<unsigned>(n), row_threads(v), 0, current_stream()>>>(
        cptr<T>(lv), cptr<int64_t>(tv), ignore_index, v, nullptr, mptr<T>(gv), scale.as<double>());
  });
  check_launch("cross_entropy_backward_kernel");
}

}  // namespace qs::engine::cuda
