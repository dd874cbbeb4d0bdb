// Fused optimizer updates: one pass over parameter, gradient and state.
#include <cmath>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

template <class T>
__global__ void adamw_kernel(T* p, const T* g, T* m, T* v, int64_t n, T b1, T b2, T c1, T c2,
                             T decay, T step_size, T eps) {
  QS_GRID_STRIDE(i, n) {
    const T gi = g[i];
    const T mi = b1 * m[i] + (T(1) - b1) * gi;
    const T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * (mi * c1) / (sqrt(vi * c2) + eps);
  }
}

template <class T>
__global__ void sgd_kernel(T* p, const T* g, T* buf, int64_t n, T mu, T wd, T lr) {
  QS_GRID_STRIDE(i, n) {
    T d = g[i] + wd * p[i];
    if (buf) {
      buf[i] = mu * buf[i] + d;
      d = buf[i];
    }
    p[i] -= lr * d;
  }
}

}  // namespace

void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
                double weight_decay, int64_t step) {
  View p = view_of(param), g = view_of(grad), m = view_of(exp_avg), v = view_of(exp_avg_sq);
  if (p.numel == 0) return;
  dispatch_floating("adamw_step_", p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      const T c1 = T(1.0 / (1.0 - std::pow(beta1, double(step))));
      const T c2 = T(1.0 / (1.0 - std::pow(beta2, double(step))));
      adamw_kernel<T><<<blocks_for(p.numel), kThreads, 0, current_stream()>>>(
          static_cast<T*>(p.data), static_cast<const T*>(g.data), static_cast<T*>(m.data),
          static_cast<T*>(v.data), p.numel, T(beta1), T(beta2), c1, c2, T(1.0 - lr * weight_decay),
          T(lr), T(eps));
    }
  }, false);
  check_launch("adamw_kernel");
}

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, double lr,
              double momentum, double weight_decay) {
  View p = view_of(param), g = view_of(grad), b = view_of(momentum_buf);
  if (p.numel == 0) return;
  dispatch_floating("sgd_step_", p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      sgd_kernel<T><<<blocks_for(p.numel), kThreads, 0, current_stream()>>>(
          static_cast<T*>(p.data), static_cast<const T*>(g.data), static_cast<T*>(b.data),
          p.numel, T(momentum), T(weight_decay), T(lr));
    }
  }, false);
  check_launch("sgd_kernel");
}

}  // namespace qs::engine::cuda
