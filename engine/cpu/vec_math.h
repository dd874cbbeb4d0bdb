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

}  // namespace qs::engine::cpu
