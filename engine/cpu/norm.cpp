// LayerNorm and RMSNorm over the last dim, forward and backward. Statistics
// are accumulated in double; weight/bias gradients are summed over fixed row
// blocks so results do not depend on the thread count.
#include <cmath>
#include <vector>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"

namespace qs::engine::cpu {

namespace {

constexpr int64_t kRowBlock = 64;

// Sums per-block partial (D)-vectors in block order into `dst`.
template <class T>
void sum_partials(const std::vector<double>& partial, int64_t nblocks, int64_t d, T* dst) {
  for (int64_t i = 0; i < d; ++i) {
    double acc = 0.0;
    for (int64_t b = 0; b < nblocks; ++b) acc += partial[b * d + i];
    dst[i] = static_cast<T>(acc);
  }
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& rstd) {
  dispatch_floating("layer_norm", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T* xp = x.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    T* yp = y.data<T>();
    T* mp = mean.data<T>();
    T* rp = rstd.data<T>();
#pragma omp parallel for schedule(static) if (rows * d >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = xp + r * d;
      double s = 0.0;
      for (int64_t i = 0; i < d; ++i) s += xr[i];
      const double mu = s / d;
      double v = 0.0;
      for (int64_t i = 0; i < d; ++i) v += (xr[i] - mu) * (xr[i] - mu);
      const double rs = 1.0 / std::sqrt(v / d + eps);
      mp[r] = static_cast<T>(mu);
      rp[r] = static_cast<T>(rs);
      const T m = static_cast<T>(mu), k = static_cast<T>(rs);
      T* yr = yp + r * d;
      for (int64_t i = 0; i < d; ++i) {
        T h = (xr[i] - m) * k;
        yr[i] = (w ? h * w[i] : h) + (b ? b[i] : T(0));
      }
    }
  });
}

void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& rstd, const Tensor& dx,
                         const Tensor& dweight, const Tensor& dbias) {
  dispatch_floating("layer_norm_backward", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const int64_t nblocks = (rows + kRowBlock - 1) / kRowBlock;
    const T* gp = dy.data<T>();
    const T* xp = x.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* mp = mean.data<T>();
    const T* rp = rstd.data<T>();
    T* dxp = dx.data<T>();
    const bool want_w = dweight.defined(), want_b = dbias.defined();
    std::vector<double> pw(want_w ? nblocks * d : 0, 0.0), pb(want_b ? nblocks * d : 0, 0.0);
#pragma omp parallel for schedule(static) if (rows * d >= kParallelGrain)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      for (int64_t r = blk * kRowBlock; r < std::min(rows, (blk + 1) * kRowBlock); ++r) {
        const T* g = gp + r * d;
        const T* xr = xp + r * d;
        const T m = mp[r], k = rp[r];
        // dx = rstd * (dh - mean(dh) - h * mean(dh * h)),  dh = dy * w
        double sdh = 0.0, sdhh = 0.0;
        for (int64_t i = 0; i < d; ++i) {
          T h = (xr[i] - m) * k;
          T dh = w ? g[i] * w[i] : g[i];
          sdh += dh;
          sdhh += dh * h;
          if (want_w) pw[blk * d + i] += g[i] * h;
          if (want_b) pb[blk * d + i] += g[i];
        }
        const T a = static_cast<T>(sdh / d), c = static_cast<T>(sdhh / d);
        T* o = dxp + r * d;
        for (int64_t i = 0; i < d; ++i) {
          T h = (xr[i] - m) * k;
          T dh = w ? g[i] * w[i] : g[i];
          o[i] = k * (dh - a - h * c);
        }
      }
    }
    if (want_w) sum_partials(pw, nblocks, d, dweight.data<T>());
    if (want_b) sum_partials(pb, nblocks, d, dbias.data<T>());
  });
}

void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& y,
              const Tensor& rstd) {
  dispatch_floating("rms_norm", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T* xp = x.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    T* yp = y.data<T>();
    T* rp = rstd.data<T>();
#pragma omp parallel for schedule(static) if (rows * d >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = xp + r * d;
      double ss = 0.0;
      for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const T k = static_cast<T>(1.0 / std::sqrt(ss / d + eps));
      rp[r] = k;
      T* yr = yp + r * d;
      for (int64_t i = 0; i < d; ++i) yr[i] = w ? xr[i] * k * w[i] : xr[i] * k;
    }
  });
}

void rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                       const Tensor& rstd, const Tensor& dx, const Tensor& dweight) {
  dispatch_floating("rms_norm_backward", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const int64_t nblocks = (rows + kRowBlock - 1) / kRowBlock;
    const T* gp = dy.data<T>();
    const T* xp = x.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* rp = rstd.data<T>();
    T* dxp = dx.data<T>();
    const bool want_w = dweight.defined();
    std::vector<double> pw(want_w ? nblocks * d : 0, 0.0);
#pragma omp parallel for schedule(static) if (rows * d >= kParallelGrain)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      for (int64_t r = blk * kRowBlock; r < std::min(rows, (blk + 1) * kRowBlock); ++r) {
        const T* g = gp + r * d;
        const T* xr = xp + r * d;
        const T k = rp[r];
        // dx = rstd * (dh - h * mean(dh * h)),  h = x * rstd, dh = dy * w
        double sdhh = 0.0;
        for (int64_t i = 0; i < d; ++i) {
          T h = xr[i] * k;
          T dh = w ? g[i] * w[i] : g[i];
          sdhh += dh * h;
          if (want_w) pw[blk * d + i] += g[i] * h;
        }
        const T c = static_cast<T>(sdhh / d);
        T* o = dxp + r * d;
        for (int64_t i = 0; i < d; ++i) {
          T h = xr[i] * k;
          T dh = w ? g[i] * w[i] : g[i];
          o[i] = k * (dh - h * c);
        }
      }
    }
    if (want_w) sum_partials(pw, nblocks, d, dweight.data<T>());
  });
}

}  // namespace qs::engine::cpu
