// Row kernels (softmax, LayerNorm, RMSNorm, cross-entropy: one block per row),
// gathers/scatters and RoPE. Statistics accumulate in f32 for f32/halves and
// in f64 for f64; inputs are contiguous (engine/ops makes them so).
#include <type_traits>

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

template <class T>
__global__ void rope_kernel(const T* x, const int64_t* pos, double theta, bool inverse, T* out,
                            int64_t rows, int64_t t_len, int64_t d) {
  using A = acc_t<T>;
  const int64_t half = d / 2;
  QS_GRID_STRIDE(k, rows * t_len * half) {
    const int64_t i = k % half, t = (k / half) % t_len, r = k / (half * t_len);
    // Angles in double, as on the CPU.
    const double freq = pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(d));
    const double angle = static_cast<double>(pos[t]) * freq;
    const A c = static_cast<A>(cos(angle));
    const A s = static_cast<A>(inverse ? -sin(angle) : sin(angle));
    const int64_t base = (r * t_len + t) * d;
    const A x1 = load(x + base + i), x2 = load(x + base + i + half);
    out[base + i] = cast_to<T>(x1 * c - x2 * s);
    out[base + i + half] = cast_to<T>(x2 * c + x1 * s);
  }
}

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

template <class T>
const T* cptr(const View& v) {
  return static_cast<const T*>(v.data);
}
template <class T>
T* mptr(const View& v) {
  return static_cast<T*>(v.data);
}

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

void rope(const Tensor& x, const Tensor& positions, double theta, bool inverse,
          const Tensor& out) {
  View xv = view_of(x), pv = view_of(positions), ov = view_of(out);
  const int64_t d = xv.last, t_len = pv.numel;
  const int64_t rows = xv.numel / (t_len * d);
  const int64_t total = rows * t_len * (d / 2);
  if (total == 0) return;
  dispatch_floating("rope", xv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    rope_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(
        cptr<T>(xv), cptr<int64_t>(pv), theta, inverse, mptr<T>(ov), rows, t_len, d);
  });
  check_launch("rope_kernel");
}

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
