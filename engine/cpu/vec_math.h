#pragma once
// exp for the CPU kernels' f32 loops, written so the compiler vectorizes it
// (libm's expf is a call per element and was ~8% of a training step).
// e^x = 2^n e^r with n = round(x log2 e), |r| <= ln 2 / 2, e^r from its Taylor
// series to degree 7 (truncation error < 5e-9 relative); 2^n is assembled in
// the exponent bits, in two factors so n = 128 does not overflow early.
// Within [-87.3, 88.7] the result is within 2 ulp of expf; below, 0 (where expf
// returns subnormals); above, +inf; NaN stays NaN. f64 keeps std::exp.
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace qs::engine::cpu {

inline float exp_f32(float x) {
  const float lo = -87.33654f, hi = 88.72283f;
  const float xc = x < lo ? lo : (x > hi ? hi : x);
  // Round to nearest by the 1.5 * 2^23 trick (vectorizes; nearbyint may not).
  const float shifter = 12582912.0f;
  const float n = (xc * 1.44269504088896341f + shifter) - shifter;
  // r = x - n ln2 with ln2 split in two so r keeps its low bits.
  float r = std::fma(n, -0.693145751953125f, xc);
  r = std::fma(n, -1.428606765330187e-06f, r);
  float p = 1.0f / 5040;
  p = std::fma(p, r, 1.0f / 720);
  p = std::fma(p, r, 1.0f / 120);
  p = std::fma(p, r, 1.0f / 24);
  p = std::fma(p, r, 1.0f / 6);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const float s1 = std::bit_cast<float>((n1 + 127) << 23), s2 = std::bit_cast<float>((n2 + 127) << 23);
  const float y = p * s1 * s2;
  return x < lo ? 0.0f : (x > hi ? INFINITY : (x != x ? x : y));
}

// erf for the f32 loops (GELU), written to vectorize as exp_f32 is (libm's
// erff was half of a ViT MLP's elementwise time). Below |x| = 1 the Taylor
// series to x^21 (truncation < 1.5e-8); above, Abramowitz & Stegun 7.1.26,
// 1 - t (a1 + ... + a5 t^4) e^{-x^2} with t = 1 / (1 + p |x|), whose 1.5e-7
// absolute error there is not swollen by cancellation (near 0 it was: 5e-7).
// Both are computed and one selected, so the loop stays branch-free.
inline float erf_f32(float x) {
  const float ax = std::fabs(x), x2 = x * x;
  float s = 1.4807192815879218e-08f;
  s = std::fma(s, x2, -1.6365844691234924e-07f);
  s = std::fma(s, x2, 1.6462114365889246e-06f);
  s = std::fma(s, x2, -1.492565035840625e-05f);
  s = std::fma(s, x2, 0.00012055332981789664f);
  s = std::fma(s, x2, -0.0008548327023450852f);
  s = std::fma(s, x2, 0.005223977625442188f);
  s = std::fma(s, x2, -0.026866170645131252f);
  s = std::fma(s, x2, 0.11283791670955126f);
  s = std::fma(s, x2, -0.37612638903183754f);
  s = std::fma(s, x2, 1.1283791670955126f);
  const float t = 1.0f / std::fma(0.3275911f, ax, 1.0f);
  float y = 1.061405429f;
  y = std::fma(y, t, -1.453152027f);
  y = std::fma(y, t, 1.421413741f);
  y = std::fma(y, t, -0.284496736f);
  y = std::fma(y, t, 0.254829592f);
  const float tail = std::copysign(1.0f - y * t * exp_f32(-x2), x);
  return ax < 1.0f ? x * s : tail;
}

template <class T>
inline T fast_exp(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return exp_f32(x);
  } else {
    return std::exp(x);
  }
}

// 1 / (1 + e^-x), with e's argument kept non-positive: no overflow for any x.
template <class T>
inline T fast_sigmoid(T x) {
  const T e = fast_exp(x >= T(0) ? -x : x);
  const T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}

// GELU with the exact (erf) form and its derivative; f64 keeps std::erf.
template <class T>
inline T fast_erf(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return erf_f32(x);
  } else {
    return std::erf(x);
  }
}
template <class T>
inline T fast_gelu_erf(T x) {
  return T(0.5) * x * (T(1) + fast_erf(x * T(0.7071067811865476)));
}
template <class T>
inline T fast_gelu_erf_grad(T x) {
  return T(0.5) * (T(1) + fast_erf(x * T(0.7071067811865476))) +
         x * fast_exp(T(-0.5) * x * x) * T(0.3989422804014327);  // 1 / sqrt(2 pi)
}

}  // namespace qs::engine::cpu
