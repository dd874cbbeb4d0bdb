// sgemm::gemm_small: C tiles of up to 14 rows x 32 columns computed straight
// from the operands. Each step p broadcasts one element of each of the
// tile's A rows and multiplies it into one row of B (two zmm, masked at the
// right edge), so neither operand is copied; B's tile column (k x 32 floats)
// stays in L1 while the row tiles pass over it.
#include "engine/cpu/sgemm.h"

#include <algorithm>
#include <array>
#include <utility>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace qs::engine::cpu::sgemm {

#if defined(__AVX512F__)

namespace {

constexpr int kRows = 14;  // 28 accumulators, 2 B vectors and a broadcast: 31 of the 32 zmm

template <int R>
void tile(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c, int64_t ldc,
          __mmask16 m0, __mmask16 m1, bool accumulate) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * ldb);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + p * ldb + 16);
    const float* ap = a + p * csa;
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(ap[r * rsa]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (accumulate) {
      acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(m0, cr));
      acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    _mm512_mask_storeu_ps(cr, m0, acc0[r]);
    _mm512_mask_storeu_ps(cr + 16, m1, acc1[r]);
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, __mmask16,
                        __mmask16, bool);

template <int... R>
constexpr auto tiles(std::integer_sequence<int, R...>) {
  return std::array<TileFn, sizeof...(R)>{&tile<R + 1>...};
}
constexpr auto kTiles = tiles(std::make_integer_sequence<int, kRows>{});

__mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << std::max<int64_t>(n, 0)) - 1u); }

}  // namespace

void gemm_small(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
                int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t j0 = 0; j0 < n; j0 += 32) {
    const __mmask16 m0 = lanes(n - j0), m1 = lanes(n - j0 - 16);
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, m - i0);
      kTiles[static_cast<std::size_t>(rows - 1)](k, a + i0 * rsa, rsa, csa, b + j0, ldb, c + i0 * ldc + j0, ldc, m0,
                                                  m1, accumulate);
    }
  }
}

#else  // no AVX-512 compiled in

void gemm_small(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
                int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (!accumulate) std::fill(ci, ci + n, 0.0f);
    for (int64_t p = 0; p < k; ++p) {
      const float x = a[i * rsa + p * csa];
      const float* bp = b + p * ldb;
      for (int64_t j = 0; j < n; ++j) ci[j] += x * bp[j];
    }
  }
}

#endif

}  // namespace qs::engine::cpu::sgemm
