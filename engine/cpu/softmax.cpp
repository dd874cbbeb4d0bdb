#include <cmath>
#include <limits>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/vec_math.h"

namespace qs::engine::cpu {

void softmax(const Tensor& x, const Tensor& out, bool log) {
  dispatch_floating(log ? "log_softmax" : "softmax", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t d = x.size(-1), rows = x.numel() / std::max<int64_t>(d, 1);
    const T* xp = x.data<T>();
    T* yp = out.data<T>();
#pragma omp parallel for schedule(static) if (rows * d >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = xp + r * d;
      T* yr = yp + r * d;
      T mx = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < d; ++i) mx = std::max(mx, xr[i]);
      if (mx == -std::numeric_limits<T>::infinity()) {
        // Every position masked: attend nowhere (zeros) instead of 0/0 = NaN.
        for (int64_t i = 0; i < d; ++i) yr[i] = log ? mx : T(0);
        continue;
      }
      T s = 0;
      for (int64_t i = 0; i < d; ++i) {
        T e = fast_exp(xr[i] - mx);
        yr[i] = e;
        s += e;
      }
      if (log) {
        const T lse = mx + std::log(s);
        for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] - lse;
      } else {
        const T inv = T(1) / s;
        for (int64_t i = 0; i < d; ++i) yr[i] *= inv;
      }
    }
  });
}

void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) {
  dispatch_floating("softmax_backward", y.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t d = y.size(-1), rows = y.numel() / std::max<int64_t>(d, 1);
    const T* yp = y.data<T>();
    const T* gp = dy.data<T>();
    T* op = dx.data<T>();
#pragma omp parallel for schedule(static) if (rows * d >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const T* yr = yp + r * d;
      const T* gr = gp + r * d;
      T* orow = op + r * d;
      T s = 0;
      if (log) {
        // y = log p:  dx = dy - p * sum(dy)
        for (int64_t i = 0; i < d; ++i) s += gr[i];
        for (int64_t i = 0; i < d; ++i) orow[i] = gr[i] - fast_exp(yr[i]) * s;
      } else {
        // y = p:  dx = p * (dy - sum(dy * p))
        for (int64_t i = 0; i < d; ++i) s += gr[i] * yr[i];
        for (int64_t i = 0; i < d; ++i) orow[i] = yr[i] * (gr[i] - s);
      }
    }
  });
}

}  // namespace qs::engine::cpu
