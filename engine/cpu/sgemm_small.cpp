// sgemm::gemm_small: C tiles of up to 14 rows x 32 columns (AVX-512; 6 x 16
// with AVX2) computed straight from the operands. Each step p broadcasts one
// element of each of the tile's A rows and multiplies it into one row of B
// (two vectors, masked at the right edge), so neither operand is copied; B's
// tile column (k x 32 or 16 floats) stays in L1 while the row tiles pass.
#include "engine/cpu/sgemm.h"

#include <algorithm>
#include <array>
#include <utility>

#include "engine/cpu/simd.h"

namespace qs::engine::cpu::sgemm {

#if QS_SIMD

namespace {

using simd::Mask;
using simd::Vec;
// 2 R accumulators, 2 B vectors and a broadcast fill the registers: R = 14
// with AVX-512's 32, 6 with AVX2's 16.
constexpr int kRows = simd::kRegisters == 32 ? 14 : 6;
constexpr int kCols = 2 * simd::kLanes;
static_assert(2 * kRows + 3 <= simd::kRegisters, "the tile must fit the registers");

// The valid lanes of a tile's two column vectors (a struct, so that the
// function-pointer table below does not carry vector-type attributes).
struct EdgeMasks {
  Mask m0, m1;
};

template <int R>
void tile(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c, int64_t ldc,
          const EdgeMasks& masks, bool accumulate) {
  const Mask m0 = masks.m0, m1 = masks.m1;
  Vec acc0[R], acc1[R];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = simd::zero();
  for (int64_t p = 0; p < k; ++p) {
    const Vec b0 = simd::maskload(m0, b + p * ldb);
    const Vec b1 = simd::maskload(m1, b + p * ldb + simd::kLanes);
    const float* ap = a + p * csa;
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      const Vec av = simd::set1(ap[r * rsa]);
      acc0[r] = simd::fma(av, b0, acc0[r]);
      acc1[r] = simd::fma(av, b1, acc1[r]);
    }
  }
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (accumulate) {
      acc0[r] = simd::add(acc0[r], simd::maskload(m0, cr));
      acc1[r] = simd::add(acc1[r], simd::maskload(m1, cr + simd::kLanes));
    }
    simd::maskstore(cr, m0, acc0[r]);
    simd::maskstore(cr + simd::kLanes, m1, acc1[r]);
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                        const EdgeMasks&, bool);

template <int... R>
constexpr auto tiles(std::integer_sequence<int, R...>) {
  return std::array<TileFn, sizeof...(R)>{&tile<R + 1>...};
}
constexpr auto kTiles = tiles(std::make_integer_sequence<int, kRows>{});

}  // namespace

void gemm_small(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
                int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t j0 = 0; j0 < n; j0 += kCols) {
    const EdgeMasks masks{simd::first(n - j0), simd::first(n - j0 - simd::kLanes)};
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, m - i0);
      kTiles[static_cast<std::size_t>(rows - 1)](k, a + i0 * rsa, rsa, csa, b + j0, ldb, c + i0 * ldc + j0, ldc, masks,
                                                  accumulate);
    }
  }
}

#else  // no AVX-512 or AVX2 compiled in

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
