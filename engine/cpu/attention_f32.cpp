// The f32 attention kernels used in training: the reference in attention.cpp
// computes each score in double, one query at a time; here a tile of queries
// at a time goes through the GEMM (scores, then probabilities times values),
// with the mask, softmax and its backward applied row by row in between. The
// (T, S) score matrix is never held: a thread keeps one tile's rows, and the
// keys a causal tile cannot see are not computed at all.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/head_rows.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/sgemm.h"
#include "engine/cpu/vec_math.h"

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
  float mx = neg_inf;
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
  for (int64_t j = 0; j < end; ++j) {
    row[j] = exp_f32(row[j] - mx);
    sum += row[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < end; ++j) row[j] *= inv;
  return mx + std::log(sum);
}

// Rows [0, n) of slice bh += part (n, d).
void add_rows(const HeadRows<float>& x, int64_t bh, int64_t n, int64_t d, const float* part) {
  for (int64_t j = 0; j < n; ++j) {
    float* row = x(bh, j);
    for (int64_t c = 0; c < d; ++c) row[c] += part[j * d + c];
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
  const int64_t tiles = (t + kTile - 1) / kTile;
  const float sc = static_cast<float>(scale);
#pragma omp parallel if (slices * t * s * d >= kParallelGrain)
  {
    std::vector<float> p(static_cast<std::size_t>(kTile * s));
#pragma omp for schedule(dynamic)
    for (int64_t job = 0; job < slices * tiles; ++job) {
      const int64_t bh = job / tiles, i0 = (job % tiles) * kTile, i1 = std::min(t, i0 + kTile), rows = i1 - i0;
      const int64_t n = visible_keys(t, s, causal, i1);
      const float* qt = Q(bh, i0);
      const float* kb = K(bh, 0);
      float* ot = O(bh, i0);
      const uint8_t* row_pad = pad ? pad + (bh / heads) * s : nullptr;
      if (n > 0) sgemm::gemm(rows, n, d, qt, Q.row_stride, 1, kb, 1, K.row_stride, p.data(), n);  // scores Q K^T
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = i0 + r;
        const int64_t limit = causal ? i + s - t + 1 : s;
        lp[bh * t + i] = probabilities(p.data() + r * n, n, limit, row_pad, sc, nullptr);
      }
      if (n > 0) {
        sgemm::gemm(rows, d, n, p.data(), n, 1, V(bh, 0), V.row_stride, 1, ot, O.row_stride);  // P V
      } else {
        for (int64_t r = 0; r < rows; ++r) std::fill(ot + r * O.row_stride, ot + r * O.row_stride + d, 0.0f);
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
        part(static_cast<std::size_t>(s * d));
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < slices; ++bh) {
      const float* kb = K(bh, 0);
      const float* vb = V(bh, 0);
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
        sgemm::gemm(rows, n, d, qt, Q.row_stride, 1, kb, 1, K.row_stride, p.data(), n);   // scores Q K^T
        sgemm::gemm(rows, n, d, gt, G.row_stride, 1, vb, 1, V.row_stride, dp.data(), n);  // dP = dO V^T
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          const int64_t limit = causal ? i + s - t + 1 : s;
          float* pr = p.data() + r * n;
          float* dpr = dp.data() + r * n;
          probabilities(pr, n, limit, row_pad, sc, lp + row0 + r);
          // dS = P (dP - D) with D = dO . O = sum_j P_j dP_j; times scale for Q K^T.
          float dsum = 0.0f;
          const float* orow = O(bh, i);
          for (int64_t c = 0; c < d; ++c) dsum += gt[r * G.row_stride + c] * orow[c];
          for (int64_t j = 0; j < n; ++j) dpr[j] = pr[j] * (dpr[j] - dsum) * sc;
        }
        sgemm::gemm(rows, d, n, dp.data(), n, 1, kb, K.row_stride, 1, dqt, DQ.row_stride);  // dQ = dS K
        sgemm::gemm(n, d, rows, dp.data(), 1, n, qt, Q.row_stride, 1, part.data(), d);  // dK += dS^T Q
        add_rows(DK, bh, n, d, part.data());
        sgemm::gemm(n, d, rows, p.data(), 1, n, gt, G.row_stride, 1, part.data(), d);  // dV += P^T dO
        add_rows(DV, bh, n, d, part.data());
      }
    }
  }
}

}  // namespace qs::engine::cpu
