// LayerNorm and RMSNorm, one block per row, and their backward passes.
// Statistics accumulate in f32 for f32/halves and in f64 for f64; inputs are
// contiguous (engine/ops makes them so).
#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

template <class T>
__global__ void layer_norm_kernel(const T* x, const T* w, const T* b, double eps, T* y, T* mean,
                                  T* rstd, int64_t d) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * d;
  A s = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += load(x + base + i);
  const A mu = block_sum(s, scratch) / A(d);
  A v = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const A c = load(x + base + i) - mu;
    v += c * c;
  }
  const A rs = A(1) / sqrt(block_sum(v, scratch) / A(d) + A(eps));
  if (threadIdx.x == 0) {
    mean[blockIdx.x] = cast_to<T>(mu);
    rstd[blockIdx.x] = cast_to<T>(rs);
  }
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    A h = (load(x + base + i) - mu) * rs;
    if (w) h *= load(w + i);
    if (b) h += load(b + i);
    y[base + i] = cast_to<T>(h);
  }
}

// dx = rstd * (dh - mean(dh) - h * mean(dh * h)),  dh = dy * w; for RMSNorm
// (mean == nullptr) the mean(dh) term is absent.
template <class T>
__global__ void norm_backward_dx_kernel(const T* dy, const T* x, const T* w, const T* mean,
                                        const T* rstd, T* dx, int64_t d) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * d;
  const A m = mean ? load(mean + blockIdx.x) : A(0), k = load(rstd + blockIdx.x);
  A sdh = 0, sdhh = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const A h = (load(x + base + i) - m) * k;
    const A dh = w ? load(dy + base + i) * load(w + i) : load(dy + base + i);
    sdh += dh;
    sdhh += dh * h;
  }
  const A a = mean ? block_sum(sdh, scratch) / A(d) : A(0);
  const A c = block_sum(sdhh, scratch) / A(d);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const A h = (load(x + base + i) - m) * k;
    const A dh = w ? load(dy + base + i) * load(w + i) : load(dy + base + i);
    dx[base + i] = cast_to<T>(k * (dh - a - h * c));
  }
}

// dweight[i] = sum_r dy[r, i] * h[r, i], dbias[i] = sum_r dy[r, i]: one thread
// per column, neighbouring threads on neighbouring columns.
template <class T>
__global__ void norm_backward_params_kernel(const T* dy, const T* x, const T* mean,
                                            const T* rstd, T* dweight, T* dbias, int64_t rows,
                                            int64_t d) {
  using A = acc_t<T>;
  QS_GRID_STRIDE(i, d) {
    A sw = 0, sb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const A g = load(dy + r * d + i);
      const A h = (load(x + r * d + i) - (mean ? load(mean + r) : A(0))) * load(rstd + r);
      sw += g * h;
      sb += g;
    }
    if (dweight) dweight[i] = cast_to<T>(sw);
    if (dbias) dbias[i] = cast_to<T>(sb);
  }
}

template <class T>
__global__ void rms_norm_kernel(const T* x, const T* w, double eps, T* y, T* rstd, int64_t d) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * d;
  A s = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const A v = load(x + base + i);
    s += v * v;
  }
  const A rs = A(1) / sqrt(block_sum(s, scratch) / A(d) + A(eps));
  if (threadIdx.x == 0) rstd[blockIdx.x] = cast_to<T>(rs);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    A h = load(x + base + i) * rs;
    if (w) h *= load(w + i);
    y[base + i] = cast_to<T>(h);
  }
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& rstd) {
  View xv = view_of(x), wv = view_of(weight), bv = view_of(bias), yv = view_of(y),
       mv = view_of(mean), rv = view_of(rstd);
  const int64_t d = xv.last, rows = xv.numel / d;
  if (rows == 0) return;
  dispatch_floating("layer_norm", xv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    layer_norm_kernel<T><<<static_cast<unsigned>(rows), row_threads(d), 0, current_stream()>>>(
        cptr<T>(xv), cptr<T>(wv), cptr<T>(bv), eps, mptr<T>(yv), mptr<T>(mv), mptr<T>(rv), d);
  });
  check_launch("layer_norm_kernel");
}

void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& rstd, const Tensor& dx,
                         const Tensor& dweight, const Tensor& dbias) {
  View gv = view_of(dy), xv = view_of(x), wv = view_of(weight), mv = view_of(mean),
       rv = view_of(rstd), dxv = view_of(dx), dwv = view_of(dweight), dbv = view_of(dbias);
  const int64_t d = xv.last, rows = xv.numel / d;
  dispatch_floating("layer_norm_backward", xv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (rows > 0) {
      norm_backward_dx_kernel<T><<<static_cast<unsigned>(rows), row_threads(d), 0, current_stream()>>>(
          cptr<T>(gv), cptr<T>(xv), cptr<T>(wv), cptr<T>(mv), cptr<T>(rv), mptr<T>(dxv), d);
    }
    if (dwv.data || dbv.data) {
      norm_backward_params_kernel<T><<<blocks_for(d), kThreads, 0, current_stream()>>>(
          cptr<T>(gv), cptr<T>(xv), cptr<T>(mv), cptr<T>(rv), mptr<T>(dwv), mptr<T>(dbv), rows, d);
    }
  });
  check_launch("layer_norm_backward");
}

void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& y,
              const Tensor& rstd) {
  View xv = view_of(x), wv = view_of(weight), yv = view_of(y), rv = view_of(rstd);
  const int64_t d = xv.last, rows = xv.numel / d;
  if (rows == 0) return;
  dispatch_floating("rms_norm", xv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    rms_norm_kernel<T><<<static_cast<unsigned>(rows), row_threads(d), 0, current_stream()>>>(
        cptr<T>(xv), cptr<T>(wv), eps, mptr<T>(yv), mptr<T>(rv), d);
  });
  check_launch("rms_norm_kernel");
}

void rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                       const Tensor& rstd, const Tensor& dx, const Tensor& dweight) {
  View gv = view_of(dy), xv = view_of(x), wv = view_of(weight), rv = view_of(rstd),
       dxv = view_of(dx), dwv = view_of(dweight);
  const int64_t d = xv.last, rows = xv.numel / d;
  dispatch_floating("rms_norm_backward", xv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (rows > 0) {
      norm_backward_dx_kernel<T><<<static_cast<unsigned>(rows), row_threads(d), 0, current_stream()>>>(
          cptr<T>(gv), cptr<T>(xv), cptr<T>(wv), nullptr, cptr<T>(rv), mptr<T>(dxv), d);
    }
    if (dwv.data) {
      norm_backward_params_kernel<T><<<blocks_for(d), kThreads, 0, current_stream()>>>(
          cptr<T>(gv), cptr<T>(xv), nullptr, cptr<T>(rv), mptr<T>(dwv), nullptr, rows, d);
    }
  });
  check_launch("rms_norm_backward");
}

}  // namespace qs::engine::cuda
