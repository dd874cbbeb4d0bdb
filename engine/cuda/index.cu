// Gathers (index_select) and scatters (index_add, atomic) of rows.
#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

template <class T>
__global__ void index_select_kernel(const T* x, int64_t outer, int64_t n, int64_t inner,
                                    const int64_t* idx, int64_t len, T* out) {
  QS_GRID_STRIDE(k, outer * len * inner) {
    const int64_t i = k % inner, j = (k / inner) % len, o = k / (inner * len);
    out[k] = x[(o * n + idx[j]) * inner + i];
  }
}

template <class T>
__global__ void index_add_kernel(T* dst, int64_t outer, int64_t n, int64_t inner,
                                 const int64_t* idx, int64_t len, const T* src) {
  QS_GRID_STRIDE(k, outer * len * inner) {
    const int64_t i = k % inner, j = (k / inner) % len, o = k / (inner * len);
    atomicAdd(dst + (o * n + idx[j]) * inner + i, src[k]);
  }
}

}  // namespace

void index_select(const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Tensor& idx,
                  const Tensor& out) {
  View xv = view_of(x), iv = view_of(idx), ov = view_of(out);
  const int64_t total = outer * iv.numel * inner;
  if (total == 0) return;
  dispatch_all("index_select", xv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    index_select_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(
        cptr<T>(xv), outer, n, inner, cptr<int64_t>(iv), iv.numel, mptr<T>(ov));
  });
  check_launch("index_select_kernel");
}

void index_add(const Tensor& dst, int64_t outer, int64_t n, int64_t inner, const Tensor& idx,
               const Tensor& src) {
  View dv = view_of(dst), iv = view_of(idx), sv = view_of(src);
  const int64_t total = outer * iv.numel * inner;
  if (total == 0) return;
  // Atomic adds: repeated indices accumulate in an unspecified order, so f32
  // sums may differ from the CPU's in the last bits.
  switch (dv.dtype) {
    case DType::f32:
      index_add_kernel<float><<<blocks_for(total), kThreads, 0, current_stream()>>>(
          mptr<float>(dv), outer, n, inner, cptr<int64_t>(iv), iv.numel, cptr<float>(sv));
      break;
    case DType::f64:
      index_add_kernel<double><<<blocks_for(total), kThreads, 0, current_stream()>>>(
          mptr<double>(dv), outer, n, inner, cptr<int64_t>(iv), iv.numel, cptr<double>(sv));
      break;
    default: fail("index_add_: dtype {} is not supported on CUDA", dtype_name(dv.dtype));
  }
  check_launch("index_add_kernel");
}

}  // namespace qs::engine::cuda
