#include <cmath>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"

namespace qs::engine::cpu {

void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
                double weight_decay, int64_t step) {
  dispatch_floating("adamw_step_", param.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = exp_avg.data<T>();
    T* v = exp_avg_sq.data<T>();
    const int64_t n = param.numel();
    const T b1 = T(beta1), b2 = T(beta2);
    const T c1 = T(1.0 / (1.0 - std::pow(beta1, double(step))));
    const T c2 = T(1.0 / (1.0 - std::pow(beta2, double(step))));
    const T decay = T(1.0 - lr * weight_decay), step_size = T(lr), e = T(eps);
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = b1 * m[i] + (T(1) - b1) * g[i];
      v[i] = b2 * v[i] + (T(1) - b2) * g[i] * g[i];
      const T denom = std::sqrt(v[i] * c2) + e;
      p[i] = p[i] * decay - step_size * (m[i] * c1) / denom;
    }
  });
}

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, double lr,
              double momentum, double weight_decay) {
  dispatch_floating("sgd_step_", param.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* buf = momentum_buf.defined() ? momentum_buf.data<T>() : nullptr;
    const int64_t n = param.numel();
    const T mu = T(momentum), wd = T(weight_decay), step = T(lr);
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      T d = g[i] + wd * p[i];
      if (buf) {
        buf[i] = mu * buf[i] + d;
        d = buf[i];
      }
      p[i] -= step * d;
    }
  });
}

}  // namespace qs::engine::cpu
