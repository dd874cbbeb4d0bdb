// Our f32 GEMM (the Goto/BLIS loop nest) in the vector width compiled in
// (engine/cpu/simd.h: AVX-512 or AVX2). Blocking: B is packed in KC x NC panels (NR-wide column slivers,
// zero-padded), A in MC x KC blocks (MR-tall row slivers), and the MR x NR
// micro-kernel runs over them. One B sliver (KC x NR) stays in L1 while A
// slivers stream from L2.
#include "engine/cpu/sgemm.h"

#include "engine/cpu/host_allocator.h"

#include <omp.h>

#include "engine/error.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "engine/cpu/simd.h"

namespace qs::engine::cpu::sgemm {

#if QS_SIMD

namespace {

using simd::Vec;
constexpr int kNV = 2;                                // vectors per row of C
constexpr int kMR = simd::kRegisters == 32 ? 14 : 6;  // rows of C per micro-tile
constexpr int kNR = simd::kLanes * kNV;               // columns of C per micro-tile
constexpr int64_t kKC = 512;       // depth of a packed panel
constexpr int64_t kMCMax = 16 * kMR;
constexpr int64_t kNC = 3072;      // width of a packed B panel (rounded to kNR)
static_assert(kNC % kNR == 0, "B panel must hold whole slivers");
static_assert(kMR * kNV + kNV + 1 <= simd::kRegisters, "accumulators, B and a broadcast must fit the registers");

// A grow-only scratch buffer per thread, from the host allocator (aligned,
// on huge pages when large).
struct Scratch {
  float* data = nullptr;
  int64_t capacity = 0;
  ~Scratch() { host_free(data, static_cast<std::size_t>(capacity) * sizeof(float)); }
  float* get(int64_t n) {
    if (n > capacity) {
      host_free(data, static_cast<std::size_t>(capacity) * sizeof(float));
      data = static_cast<float*>(host_alloc(static_cast<std::size_t>(n) * sizeof(float)));
      capacity = n;
    }
    return data;
  }
};

// ap: (kc, MR) packed A sliver; bp: (kc, NR) packed B sliver; c: MR x NR tile.
inline void micro_kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp,
                         float* __restrict c, int64_t ldc, bool accumulate) {
  Vec acc[kMR][kNV];
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) acc[r][v] = simd::zero();
  for (int64_t p = 0; p < kc; ++p) {
    Vec bv[kNV];
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) bv[v] = simd::load(bp + p * kNR + simd::kLanes * v);
#pragma GCC unroll 16
    for (int r = 0; r < kMR; ++r) {
      const Vec av = simd::set1(ap[p * kMR + r]);
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) acc[r][v] = simd::fma(av, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) {
      float* cp = c + r * ldc + simd::kLanes * v;
      simd::storeu(cp, accumulate ? simd::add(acc[r][v], simd::loadu(cp)) : acc[r][v]);
    }
  }
}

// A edge tile (fewer than MR rows or NR columns): compute in a buffer, copy the valid part.
void edge_tile(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int64_t mr,
               int64_t nr, bool accumulate) {
  alignas(64) float tile[kMR * kNR];
  micro_kernel(kc, ap, bp, tile, kNR, false);
  for (int64_t r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    const float* tr = tile + r * kNR;
    if (accumulate) {
      for (int64_t j = 0; j < nr; ++j) cr[j] += tr[j];
    } else {
      std::memcpy(cr, tr, static_cast<std::size_t>(nr) * sizeof(float));
    }
  }
}

// B (kc x nc block at b) -> slivers [j / NR][p][j % NR], zero-padded to NR.
void pack_b_sliver(int64_t kc, int64_t nr, const float* b, int64_t rsb, int64_t csb, float* out) {
  if (csb == 1) {
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b + p * rsb;
      float* dst = out + p * kNR;
      std::memcpy(dst, src, static_cast<std::size_t>(nr) * sizeof(float));
      for (int64_t j = nr; j < kNR; ++j) dst[j] = 0.0f;
    }
  } else {
    for (int64_t p = 0; p < kc; ++p) {
      float* dst = out + p * kNR;
      for (int64_t j = 0; j < nr; ++j) dst[j] = b[p * rsb + j * csb];
      for (int64_t j = nr; j < kNR; ++j) dst[j] = 0.0f;
    }
  }
}

// A (mr x kc at a) -> sliver [p][r], zero-padded to MR rows.
void pack_a_sliver(int64_t mr, int64_t kc, const float* a, int64_t rsa, int64_t csa, float* out) {
  if (mr < kMR) std::memset(out, 0, static_cast<std::size_t>(kc * kMR) * sizeof(float));
  if (csa == 1) {
    for (int64_t r = 0; r < mr; ++r) {
      const float* src = a + r * rsa;
      for (int64_t p = 0; p < kc; ++p) out[p * kMR + r] = src[p];
    }
  } else {
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = a + p * csa;
      float* dst = out + p * kMR;
      for (int64_t r = 0; r < mr; ++r) dst[r] = src[r * rsa];
    }
  }
}

thread_local Scratch t_a_scratch;
thread_local Scratch t_b_scratch;

// One thread's GEMM over its own rows or columns of C: the whole Goto loop
// nest with thread-local packed panels, no synchronisation.
void gemm_serial(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa,
                 const float* b, int64_t rsb, int64_t csb, float* c, int64_t ldc) {
  const int64_t mc = std::min<int64_t>(kMCMax, (m + kMR - 1) / kMR * kMR);
  const int64_t nc_max = std::min<int64_t>(kNC, (n + kNR - 1) / kNR * kNR);
  float* bp = t_b_scratch.get(kKC * nc_max);
  float* ap = t_a_scratch.get(kKC * mc);
  for (int64_t jc = 0; jc < n; jc += kNC) {
    const int64_t nc = std::min(kNC, n - jc);
    const int64_t slivers = (nc + kNR - 1) / kNR;
    for (int64_t pc = 0; pc < k; pc += kKC) {
      const int64_t kc = std::min(kKC, k - pc);
      const bool accumulate = pc > 0;
      for (int64_t s = 0; s < slivers; ++s) {
        const int64_t j0 = s * kNR;
        pack_b_sliver(kc, std::min<int64_t>(kNR, nc - j0), b + pc * rsb + (jc + j0) * csb, rsb,
                      csb, bp + s * kc * kNR);
      }
      for (int64_t ic = 0; ic < m; ic += mc) {
        const int64_t mcur = std::min(mc, m - ic);
        for (int64_t ir = 0; ir < mcur; ir += kMR) {
          pack_a_sliver(std::min<int64_t>(kMR, mcur - ir), kc, a + (ic + ir) * rsa + pc * csa,
                        rsa, csa, ap + ir * kc);
        }
        for (int64_t s = 0; s < slivers; ++s) {
          const int64_t j0 = s * kNR, nr = std::min<int64_t>(kNR, nc - j0);
          const float* bs = bp + s * kc * kNR;
          for (int64_t ir = 0; ir < mcur; ir += kMR) {
            const int64_t mr = std::min<int64_t>(kMR, mcur - ir);
            float* ct = c + (ic + ir) * ldc + jc + j0;
            if (mr == kMR && nr == kNR) {
              micro_kernel(kc, ap + ir * kc, bs, ct, ldc, accumulate);
            } else {
              edge_tile(kc, ap + ir * kc, bs, ct, ldc, mr, nr, accumulate);
            }
          }
        }
      }
    }
  }
}

}  // namespace

bool available() { return true; }

void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa,
          const float* b, int64_t rsb, int64_t csb, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) std::memset(c + i * ldc, 0, n * sizeof(float));
    return;
  }
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // Threads split C into row (or, for short wide C, column) ranges of whole
  // micro-tiles and each runs the serial loop nest on its own range. Every
  // thread packs the panels of the other operand it needs itself: that
  // duplicates O(K N) copying against O(M N K / threads) arithmetic, and
  // saves all barriers.
  const bool by_rows = m / kMR >= n / kNR;
  const int64_t tiles = by_rows ? (m + kMR - 1) / kMR : (n + kNR - 1) / kNR;
  const int parts = static_cast<int>(std::min<int64_t>(threads, tiles));
  if (parts <= 1) {
    gemm_serial(m, n, k, a, rsa, csa, b, rsb, csb, c, ldc);
    return;
  }
#pragma omp parallel for schedule(static, 1) num_threads(parts)
  for (int t = 0; t < parts; ++t) {
    const int64_t t0 = tiles * t / parts, t1 = tiles * (t + 1) / parts;
    if (by_rows) {
      const int64_t r0 = t0 * kMR, r1 = std::min(m, t1 * kMR);
      gemm_serial(r1 - r0, n, k, a + r0 * rsa, rsa, csa, b, rsb, csb, c + r0 * ldc, ldc);
    } else {
      const int64_t c0 = t0 * kNR, c1 = std::min(n, t1 * kNR);
      gemm_serial(m, c1 - c0, k, a, rsa, csa, b + c0 * csb, rsb, csb, c + c0, ldc);
    }
  }
}

#else  // no AVX-512 or AVX2 compiled in

bool available() { return false; }

void gemm(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t,
          int64_t, float*, int64_t) {
  fail("sgemm: built without AVX-512 or AVX2; matmul should have used the Eigen path");
}

#endif

}  // namespace qs::engine::cpu::sgemm
