// The f32 attention kernels used in training: the reference in attention.cpp
// computes each score in double, one query at a time; here a tile of queries
// at a time goes through a GEMM (scores, then probabilities times values),
// with the mask, softmax and its backward applied row by row in between. The
// (T, S) score matrix is never held: a thread keeps one tile's rows, and the
// keys a causal tile cannot see are not computed at all.
//
// The products are small (64 queries x 128 keys x d = 32 in the default
// LLM), and packing them for the blocked GEMM cost as much as multiplying, so
// they go through sgemm::gemm_small, which reads its operands in place. Its B
// must be row-major: a thread transposes its slice's K (and, for dP = dO V^T,
// V) once into a (d, S) buffer that every query tile then reads.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/head_rows.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/sgemm.h"
#include "engine/cpu/vec_math.h"

#if defined(__AVX512F__)
// GCC 12 reports the _mm512_undefined_ps() inside the shuffle intrinsics as
// "used uninitialized" once they are inlined (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace qs::engine::cpu {

namespace {

constexpr int64_t kTile = 64;  // queries per tile: 64 x S floats of scores per thread

// Keys [0, n) hold every key a query of [i0, i1) may see: past n - 1 a causal
// mask hides them from all of the tile's queries (queries are the last t of s).
int64_t visible_keys(int64_t t, int64_t s, bool causal, int64_t i1) {
  return causal ? std::clamp<int64_t>(i1 - 1 + s - t + 1, 0, s) : s;
}

// Row i's scores become its probabilities p = exp(scale x - lse), zero where
// the key is masked. With lse unknown (forward), it is computed from the row
// and returned; a row that sees no key is all zeros with lse = -inf.
float probabilities(float* row, int64_t n, int64_t limit, const uint8_t* pad, float scale, const float* known_lse) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t end = std::clamp<int64_t>(limit, 0, n);
  // The max and the sum are declared reductions so that they vectorize: GCC
  // otherwise keeps a float max or sum in order, one lane at a time.
  float mx = neg_inf;
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < end; ++j) {
    const float x = pad && pad[j] ? neg_inf : row[j] * scale;
    row[j] = x;
    mx = std::max(mx, x);
  }
  for (int64_t j = end; j < n; ++j) row[j] = 0.0f;
  if (mx == neg_inf) {
    std::fill(row, row + n, 0.0f);
    return neg_inf;
  }
  if (known_lse) {
    const float lse = *known_lse;
    for (int64_t j = 0; j < end; ++j) row[j] = exp_f32(row[j] - lse);
    return lse;
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < end; ++j) {
    row[j] = exp_f32(row[j] - mx);
    sum += row[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < end; ++j) row[j] *= inv;
  return mx + std::log(sum);
}

#if defined(__AVX512F__)
// A 16 x 16 block (rows ls floats apart) into dst transposed (rows ld apart):
// interleave 32-bit then 64-bit elements within 128-bit lanes, which leaves
// 4 x 4 blocks transposed, then move the 128-bit lanes.
void transpose16(const float* src, int64_t ls, float* dst, int64_t ld) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ls);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  auto pd = [](__m512 x) { return _mm512_castps_pd(x); };
  for (int g = 0; g < 4; ++g) {
    const __m512* x = t + 4 * g;
    r[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(x[0]), pd(x[2])));
    r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(x[0]), pd(x[2])));
    r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(x[1]), pd(x[3])));
    r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(x[1]), pd(x[3])));
  }
  // Lane L of r[4 g + j] now holds column 4 L + j of rows 4 g .. 4 g + 3.
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44), u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE);
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44),
                 u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
    _mm512_storeu_ps(dst + (0 + j) * ld, _mm512_shuffle_f32x4(u0, u2, 0x88));
    _mm512_storeu_ps(dst + (4 + j) * ld, _mm512_shuffle_f32x4(u0, u2, 0xDD));
    _mm512_storeu_ps(dst + (8 + j) * ld, _mm512_shuffle_f32x4(u1, u3, 0x88));
    _mm512_storeu_ps(dst + (12 + j) * ld, _mm512_shuffle_f32x4(u1, u3, 0xDD));
  }
}
#endif

// Rows [0, s) of slice bh, (s, d), into out (d, s).
void transpose_slice(const HeadRows<const float>& x, int64_t bh, int64_t s, int64_t d, float* out) {
  int64_t j0 = 0, c0 = 0;
#if defined(__AVX512F__)
  for (; j0 + 16 <= s; j0 += 16) {
    for (c0 = 0; c0 + 16 <= d; c0 += 16) transpose16(x(bh, j0) + c0, x.row_stride, out + c0 * s + j0, s);
  }
#endif
  // What 16 x 16 blocks left: the columns past the last block, then the rows.
  for (int64_t j = 0; j < j0; ++j) {
    for (int64_t c = c0; c < d; ++c) out[c * s + j] = x(bh, j)[c];
  }
  for (int64_t j = j0; j < s; ++j) {
    for (int64_t c = 0; c < d; ++c) out[c * s + j] = x(bh, j)[c];
  }
}

}  // namespace

void attention_forward_f32(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, int64_t t, int64_t s,
                           double scale, bool causal, const Tensor& key_padding, const Tensor& out, const Tensor& lse) {
  const int64_t d = q.size(-1);
  const int64_t slices = q.numel() / (t * d);  // B * H
  const HeadRows<const float> Q(q, heads), K(k, heads), V(v, heads);
  const HeadRows<float> O(out, heads);
  const uint8_t* pad = key_padding.defined() ? key_padding.data<uint8_t>() : nullptr;
  float* lp = lse.data<float>();
  const float sc = static_cast<float>(scale);
  // A (b, h) slice is one job, so its K^T is built once for all its tiles.
#pragma omp parallel if (slices * t * s * d >= kParallelGrain)
  {
    std::vector<float> p(static_cast<std::size_t>(kTile * s)), kt(static_cast<std::size_t>(d * s));
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < slices; ++bh) {
      transpose_slice(K, bh, s, d, kt.data());
      const uint8_t* row_pad = pad ? pad + (bh / heads) * s : nullptr;
      for (int64_t i0 = 0; i0 < t; i0 += kTile) {
        const int64_t i1 = std::min(t, i0 + kTile), rows = i1 - i0;
        const int64_t n = visible_keys(t, s, causal, i1);
        float* ot = O(bh, i0);
        // Scores Q K^T: the first n columns of K^T.
        sgemm::gemm_small(rows, n, d, Q(bh, i0), Q.row_stride, 1, kt.data(), s, p.data(), n, false);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          const int64_t limit = causal ? i + s - t + 1 : s;
          lp[bh * t + i] = probabilities(p.data() + r * n, n, limit, row_pad, sc, nullptr);
        }
        if (n > 0) {
          sgemm::gemm_small(rows, d, n, p.data(), n, 1, V(bh, 0), V.row_stride, ot, O.row_stride, false);  // P V
        } else {
          for (int64_t r = 0; r < rows; ++r) std::fill(ot + r * O.row_stride, ot + r * O.row_stride + d, 0.0f);
        }
      }
    }
  }
}

void attention_backward_f32(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                            const Tensor& lse, int64_t heads, int64_t t, int64_t s, double scale, bool causal,
                            const Tensor& key_padding, const Tensor& dq, const Tensor& dk, const Tensor& dv) {
  const int64_t d = q.size(-1);
  const int64_t slices = q.numel() / (t * d);  // B * H
  const HeadRows<const float> Q(q, heads), K(k, heads), V(v, heads), G(dout, heads), O(out, heads);
  const HeadRows<float> DQ(dq, heads), DK(dk, heads), DV(dv, heads);
  const float* lp = lse.data<float>();
  const uint8_t* pad = key_padding.defined() ? key_padding.data<uint8_t>() : nullptr;
  const float sc = static_cast<float>(scale);
  // dK and dV sum over every query, so a (b, h) slice is one thread's job.
#pragma omp parallel if (slices * t * s * d >= kParallelGrain)
  {
    std::vector<float> p(static_cast<std::size_t>(kTile * s)), dp(static_cast<std::size_t>(kTile * s)),
        kt(static_cast<std::size_t>(d * s)), vt(static_cast<std::size_t>(d * s)), dsum(kTile);
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < slices; ++bh) {
      transpose_slice(K, bh, s, d, kt.data());
      transpose_slice(V, bh, s, d, vt.data());
      for (int64_t j = 0; j < s; ++j) {
        std::fill(DK(bh, j), DK(bh, j) + d, 0.0f);
        std::fill(DV(bh, j), DV(bh, j) + d, 0.0f);
      }
      const uint8_t* row_pad = pad ? pad + (bh / heads) * s : nullptr;
      for (int64_t i0 = 0; i0 < t; i0 += kTile) {
        const int64_t i1 = std::min(t, i0 + kTile), rows = i1 - i0;
        const int64_t n = visible_keys(t, s, causal, i1);
        const int64_t row0 = bh * t + i0;
        float* dqt = DQ(bh, i0);
        if (n == 0) {
          for (int64_t r = 0; r < rows; ++r) std::fill(dqt + r * DQ.row_stride, dqt + r * DQ.row_stride + d, 0.0f);
          continue;
        }
        const float* qt = Q(bh, i0);
        const float* gt = G(bh, i0);
        sgemm::gemm_small(rows, n, d, qt, Q.row_stride, 1, kt.data(), s, p.data(), n, false);   // scores Q K^T
        sgemm::gemm_small(rows, n, d, gt, G.row_stride, 1, vt.data(), s, dp.data(), n, false);  // dP = dO V^T
        // dS = P (dP - D) with D = dO . O = sum_j P_j dP_j; times scale for
        // Q K^T. The tile's D first, in a loop of its own: O's rows are not in
        // cache, and misses on independent rows overlap (inside the row loop
        // below they stalled it: half of the backward's own time).
        for (int64_t r = 0; r < rows; ++r) {
          const float* grow = gt + r * G.row_stride;
          const float* orow = O(bh, i0 + r);
          float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
          for (int64_t c = 0; c < d; ++c) sum += grow[c] * orow[c];
          dsum[r] = sum;
        }
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          const int64_t limit = causal ? i + s - t + 1 : s;
          float* pr = p.data() + r * n;
          float* dpr = dp.data() + r * n;
          probabilities(pr, n, limit, row_pad, sc, lp + row0 + r);
          for (int64_t j = 0; j < n; ++j) dpr[j] = pr[j] * (dpr[j] - dsum[r]) * sc;
        }
        sgemm::gemm_small(rows, d, n, dp.data(), n, 1, K(bh, 0), K.row_stride, dqt, DQ.row_stride, false);  // dQ = dS K
        // dK += dS^T Q and dV += P^T dO, accumulated in place (dS^T read transposed).
        sgemm::gemm_small(n, d, rows, dp.data(), 1, n, qt, Q.row_stride, DK(bh, 0), DK.row_stride, true);
        sgemm::gemm_small(n, d, rows, p.data(), 1, n, gt, G.row_stride, DV(bh, 0), DV.row_stride, true);
      }
    }
  }
}

}  // namespace qs::engine::cpu
