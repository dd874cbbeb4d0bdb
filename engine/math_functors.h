#pragma once
// Scalar math of the elementwise ops, written once and used by the CPU loops
// and the CUDA kernels alike (QS_HD marks them host+device under nvcc).
#include <cmath>

#if defined(__CUDACC__)
#define QS_HD __host__ __device__
#else
#define QS_HD
#endif

namespace qs::engine::fn {

template <class T>
QS_HD inline T sigmoid(T x) {
  using std::exp;
  // Two branches keep exp's argument non-positive: no overflow for any x.
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  T e = exp(x);
  return e / (T(1) + e);
}

template <class T>
QS_HD inline T gelu_tanh(T x) {
  using std::tanh;
  const T k = T(0.7978845608028654);  // sqrt(2/pi)
  return T(0.5) * x * (T(1) + tanh(k * (x + T(0.044715) * x * x * x)));
}
template <class T>
QS_HD inline T gelu_tanh_grad(T x) {
  using std::tanh;
  const T k = T(0.7978845608028654);
  T t = tanh(k * (x + T(0.044715) * x * x * x));
  return T(0.5) * (T(1) + t) +
         T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * T(0.044715) * x * x);
}
template <class T>
QS_HD inline T gelu_erf(T x) {
  using std::erf;
  return T(0.5) * x * (T(1) + erf(x * T(0.7071067811865476)));
}
template <class T>
QS_HD inline T gelu_erf_grad(T x) {
  using std::erf;
  using std::exp;
  return T(0.5) * (T(1) + erf(x * T(0.7071067811865476))) +
         x * exp(T(-0.5) * x * x) * T(0.3989422804014327);  // 1/sqrt(2 pi)
}
template <class T>
QS_HD inline T silu(T x) {
  return x * sigmoid(x);
}
template <class T>
QS_HD inline T silu_grad(T x) {
  T s = sigmoid(x);
  return s * (T(1) + x * (T(1) - s));
}
// OpenAI CLIP's GELU approximation (hidden_act "quick_gelu").
template <class T>
QS_HD inline T quick_gelu(T x) {
  return x * sigmoid(T(1.702) * x);
}
template <class T>
QS_HD inline T quick_gelu_grad(T x) {
  T s = sigmoid(T(1.702) * x);
  return s * (T(1) + T(1.702) * x * (T(1) - s));
}

}  // namespace qs::engine::fn
