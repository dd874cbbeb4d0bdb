#pragma once
// The f32 vector operations our register-blocked kernels (sgemm.cpp,
// sgemm_small.cpp) are written in, for the widest instruction set compiled
// in: AVX-512 (16 lanes, 32 registers) or AVX2 with FMA (8 lanes, 16
// registers). QS_SIMD is 0 where neither is, and the kernels fall back.
#include <cstdint>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define QS_SIMD 1
#else
#define QS_SIMD 0
#endif

namespace qs::engine::cpu::simd {

#if defined(__AVX512F__)

using Vec = __m512;
using Mask = __mmask16;
constexpr int kLanes = 16;
constexpr int kRegisters = 32;
inline Vec zero() { return _mm512_setzero_ps(); }
inline Vec load(const float* p) { return _mm512_load_ps(p); }  // aligned to 64 bytes
inline Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
inline void storeu(float* p, Vec x) { _mm512_storeu_ps(p, x); }
inline Vec set1(float x) { return _mm512_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
// The first n lanes (none for n <= 0, all for n >= kLanes).
inline Mask first(int64_t n) {
  return n >= kLanes ? Mask(0xFFFF) : n <= 0 ? Mask(0) : Mask((1u << n) - 1u);
}
inline Vec maskload(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
inline void maskstore(float* p, Mask m, Vec x) { _mm512_mask_storeu_ps(p, m, x); }

#elif QS_SIMD

using Vec = __m256;
using Mask = __m256i;
constexpr int kLanes = 8;
constexpr int kRegisters = 16;
inline Vec zero() { return _mm256_setzero_ps(); }
inline Vec load(const float* p) { return _mm256_load_ps(p); }  // aligned to 32 bytes
inline Vec loadu(const float* p) { return _mm256_loadu_ps(p); }
inline void storeu(float* p, Vec x) { _mm256_storeu_ps(p, x); }
inline Vec set1(float x) { return _mm256_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Mask first(int64_t n) {
  // Lane i is on where i < n: compare the lane indices with n.
  const int32_t k = static_cast<int32_t>(n < 0 ? 0 : n > kLanes ? kLanes : n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline Vec maskload(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }  // masked lanes read 0
inline void maskstore(float* p, Mask m, Vec x) { _mm256_maskstore_ps(p, m, x); }

#endif

}  // namespace qs::engine::cpu::simd
