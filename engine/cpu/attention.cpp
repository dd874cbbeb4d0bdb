// Attention without the score matrix: each query row computes its scores,
// softmax and output in a row-sized buffer, in double (the reference for the
// CUDA kernel and the f32 GEMM kernels of attention_f32.cpp, and the
// semantics of engine::attention_forward/backward).
#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/head_rows.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/sgemm.h"

namespace qs::engine::cpu {

namespace {

struct Dims {
  int64_t bh, heads, t, s, d;
};

Dims dims_of(const Tensor& q, int64_t heads, int64_t t, int64_t s) {
  const int64_t d = q.size(-1);
  return {q.numel() / (t * d), heads, t, s, d};
}

// Whether query i of a (b, h) slice may see key j.
inline bool visible(int64_t i, int64_t j, const Dims& m, bool causal, const uint8_t* pad, int64_t b) {
  if (causal && j > i + m.s - m.t) return false;
  return !(pad && pad[b * m.s + j]);
}

template <class T>
double dot(const T* a, const T* b, int64_t d) {
  double acc = 0.0;
  for (int64_t i = 0; i < d; ++i) acc += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return acc;
}

}  // namespace

void attention_forward_reference(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, int64_t t,
                                 int64_t s, double scale, bool causal, const Tensor& key_padding,
                                 const Tensor& out, const Tensor& lse) {
  dispatch_floating("attention", q.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Dims m = dims_of(q, heads, t, s);
    const HeadRows<const T> Q(q, heads), K(k, heads), V(v, heads);
    const HeadRows<T> O(out, heads);
    const uint8_t* pad = key_padding.defined() ? key_padding.data<uint8_t>() : nullptr;
    T* lp = lse.data<T>();
#pragma omp parallel for schedule(static) if (m.bh * m.t * m.s * m.d >= kParallelGrain)
    for (int64_t bh = 0; bh < m.bh; ++bh) {
      std::vector<double> p(m.s), acc(m.d);
      const int64_t b = bh / m.heads;
      for (int64_t i = 0; i < m.t; ++i) {
        const T* qi = Q(bh, i);
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < m.s; ++j) {
          p[j] = visible(i, j, m, causal, pad, b) ? scale * dot(qi, K(bh, j), m.d)
                                                  : -std::numeric_limits<double>::infinity();
          mx = std::max(mx, p[j]);
        }
        T* oi = O(bh, i);
        if (mx == -std::numeric_limits<double>::infinity()) {
          // No visible key: zeros, as softmax of an all -inf row gives.
          for (int64_t c = 0; c < m.d; ++c) oi[c] = T(0);
          lp[bh * m.t + i] = -std::numeric_limits<T>::infinity();
          continue;
        }
        double sum = 0.0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < m.s; ++j) {
          const double e = std::exp(p[j] - mx);
          if (e == 0.0) continue;
          sum += e;
          const T* vj = V(bh, j);
          for (int64_t c = 0; c < m.d; ++c) acc[c] += e * static_cast<double>(vj[c]);
        }
        for (int64_t c = 0; c < m.d; ++c) oi[c] = static_cast<T>(acc[c] / sum);
        lp[bh * m.t + i] = static_cast<T>(mx + std::log(sum));
      }
    }
  });
}

void attention_backward_reference(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& out, const Tensor& lse, int64_t heads, int64_t t, int64_t s,
                                  double scale, bool causal, const Tensor& key_padding, const Tensor& dq,
                                  const Tensor& dk, const Tensor& dv) {
  dispatch_floating("attention_backward", q.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Dims m = dims_of(q, heads, t, s);
    const HeadRows<const T> Q(q, heads), K(k, heads), V(v, heads), G(dout, heads), O(out, heads);
    const HeadRows<T> DQ(dq, heads), DK(dk, heads), DV(dv, heads);
    const T* lp = lse.data<T>();
    const uint8_t* pad = key_padding.defined() ? key_padding.data<uint8_t>() : nullptr;
#pragma omp parallel for schedule(static) if (m.bh * m.t * m.s * m.d >= kParallelGrain)
    for (int64_t bh = 0; bh < m.bh; ++bh) {
      const int64_t b = bh / m.heads;
      std::vector<double> gk(m.s * m.d, 0.0), gv(m.s * m.d, 0.0), gq(m.d);
      for (int64_t i = 0; i < m.t; ++i) {
        const int64_t row = bh * m.t + i;
        const T* qi = Q(bh, i);
        const T* gi = G(bh, i);
        T* dqi = DQ(bh, i);
        std::fill(gq.begin(), gq.end(), 0.0);
        if (std::isinf(lp[row])) {
          for (int64_t c = 0; c < m.d; ++c) dqi[c] = T(0);
          continue;
        }
        // D = dO . O  (= sum_j p_j dp_j)
        const double dsum = dot(gi, O(bh, i), m.d);
        for (int64_t j = 0; j < m.s; ++j) {
          if (!visible(i, j, m, causal, pad, b)) continue;
          const T* kj = K(bh, j);
          const T* vj = V(bh, j);
          const double p = std::exp(scale * dot(qi, kj, m.d) - static_cast<double>(lp[row]));
          const double ds = p * (dot(gi, vj, m.d) - dsum);
          for (int64_t c = 0; c < m.d; ++c) {
            gq[c] += scale * ds * static_cast<double>(kj[c]);
            gk[j * m.d + c] += scale * ds * static_cast<double>(qi[c]);
            gv[j * m.d + c] += p * static_cast<double>(gi[c]);
          }
        }
        for (int64_t c = 0; c < m.d; ++c) dqi[c] = static_cast<T>(gq[c]);
      }
      for (int64_t j = 0; j < m.s; ++j) {
        T* dkj = DK(bh, j);
        T* dvj = DV(bh, j);
        for (int64_t c = 0; c < m.d; ++c) {
          dkj[c] = static_cast<T>(gk[j * m.d + c]);
          dvj[c] = static_cast<T>(gv[j * m.d + c]);
        }
      }
    }
  });
}

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, int64_t t,
                       int64_t s, double scale, bool causal, const Tensor& key_padding,
                       const Tensor& out, const Tensor& lse) {
  if (q.dtype() == DType::f32 && sgemm::available()) {
    attention_forward_f32(q, k, v, heads, t, s, scale, causal, key_padding, out, lse);
  } else {
    attention_forward_reference(q, k, v, heads, t, s, scale, causal, key_padding, out, lse);
  }
}

void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, int64_t heads, int64_t t, int64_t s,
                        double scale, bool causal, const Tensor& key_padding, const Tensor& dq,
                        const Tensor& dk, const Tensor& dv) {
  if (q.dtype() == DType::f32 && sgemm::available()) {
    attention_backward_f32(dout, q, k, v, out, lse, heads, t, s, scale, causal, key_padding, dq, dk, dv);
  } else {
    attention_backward_reference(dout, q, k, v, out, lse, heads, t, s, scale, causal, key_padding, dq, dk, dv);
  }
}

}  // namespace qs::engine::cpu
