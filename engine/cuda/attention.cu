// Attention that never materialises the (T, S) score matrix: a warp per query
// row walks the keys with an online softmax (running max and sum), each lane
// holding kD = head_dim / 32 (rounded up) channels of q and of the output.
// The backward recomputes the probabilities from the saved log-sum-exp:
// a warp per query row for dq, a warp per key row for dk and dv (no atomics).
#include <cmath>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

constexpr int kWarps = 4;  // warps (rows) per block

struct Geometry {
  int64_t bh, heads, t, s, d;
  double scale;
  bool causal;
};

__device__ __forceinline__ bool visible(const Geometry& g, int64_t i, int64_t j, const uint8_t* pad,
                                        int64_t b) {
  if (g.causal && j > i + g.s - g.t) return false;
  return !(pad && pad[b * g.s + j]);
}

template <class A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Channels c = lane + 32 * u of a row, zero beyond d.
template <int kD, class T>
__device__ __forceinline__ void load_row(const T* row, int64_t d, int lane, acc_t<T> (&out)[kD]) {
#pragma unroll
  for (int u = 0; u < kD; ++u) {
    const int64_t c = lane + 32 * u;
    out[u] = c < d ? load(row + c) : acc_t<T>(0);
  }
}

template <int kD, class A>
__device__ __forceinline__ A row_dot(const A (&a)[kD], const A (&b)[kD]) {
  A s = 0;
#pragma unroll
  for (int u = 0; u < kD; ++u) s += a[u] * b[u];
  return warp_sum(s);
}

template <int kD, class T>
__global__ void attention_forward_kernel(Geometry g, const T* q, const T* k, const T* v,
                                         const uint8_t* pad, T* out, acc_t<T>* lse) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= g.bh * g.t) return;
  const int64_t bh = row / g.t, i = row % g.t, b = bh / g.heads;
  A qi[kD], acc[kD], kj[kD], vj[kD];
  load_row<kD>(q + row * g.d, g.d, lane, qi);
#pragma unroll
  for (int u = 0; u < kD; ++u) acc[u] = 0;
  A mx = -INFINITY, sum = 0;
  const int64_t last = g.causal ? (i + g.s - g.t < g.s - 1 ? i + g.s - g.t : g.s - 1) : g.s - 1;
  for (int64_t j = 0; j <= last; ++j) {
    if (!visible(g, i, j, pad, b)) continue;
    load_row<kD>(k + (bh * g.s + j) * g.d, g.d, lane, kj);
    const A sc = static_cast<A>(g.scale) * row_dot<kD>(qi, kj);
    load_row<kD>(v + (bh * g.s + j) * g.d, g.d, lane, vj);
    const A m_new = sc > mx ? sc : mx;
    const A correction = exp(mx - m_new);  // 0 on the first visible key
    const A p = exp(sc - m_new);
    sum = sum * correction + p;
#pragma unroll
    for (int u = 0; u < kD; ++u) acc[u] = acc[u] * correction + p * vj[u];
    mx = m_new;
  }
  const bool none = sum == A(0);
#pragma unroll
  for (int u = 0; u < kD; ++u) {
    const int64_t c = lane + 32 * u;
    if (c < g.d) out[row * g.d + c] = cast_to<T>(none ? A(0) : acc[u] / sum);
  }
  if (lane == 0) lse[row] = none ? A(-INFINITY) : mx + log(sum);
}

// delta[row] = dO . O
template <class T>
__global__ void attention_delta_kernel(int64_t rows, int64_t d, const T* dout, const T* out,
                                       acc_t<T>* delta) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  A s = 0;
  for (int64_t c = lane; c < d; c += 32) s += load(dout + row * d + c) * load(out + row * d + c);
  s = warp_sum(s);
  if (lane == 0) delta[row] = s;
}

template <int kD, class T>
__global__ void attention_dq_kernel(Geometry g, const T* q, const T* k, const T* v, const T* dout,
                                    const acc_t<T>* lse, const acc_t<T>* delta, const uint8_t* pad,
                                    T* dq) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= g.bh * g.t) return;
  const int64_t bh = row / g.t, i = row % g.t, b = bh / g.heads;
  A qi[kD], gi[kD], kj[kD], vj[kD], acc[kD];
  load_row<kD>(q + row * g.d, g.d, lane, qi);
  load_row<kD>(dout + row * g.d, g.d, lane, gi);
#pragma unroll
  for (int u = 0; u < kD; ++u) acc[u] = 0;
  const A l = lse[row], dsum = delta[row], scale = static_cast<A>(g.scale);
  if (l != A(-INFINITY)) {
    for (int64_t j = 0; j < g.s; ++j) {
      if (!visible(g, i, j, pad, b)) continue;
      load_row<kD>(k + (bh * g.s + j) * g.d, g.d, lane, kj);
      load_row<kD>(v + (bh * g.s + j) * g.d, g.d, lane, vj);
      const A p = exp(scale * row_dot<kD>(qi, kj) - l);
      const A ds = p * (row_dot<kD>(gi, vj) - dsum);
#pragma unroll
      for (int u = 0; u < kD; ++u) acc[u] += scale * ds * kj[u];
    }
  }
#pragma unroll
  for (int u = 0; u < kD; ++u) {
    const int64_t c = lane + 32 * u;
    if (c < g.d) dq[row * g.d + c] = cast_to<T>(acc[u]);
  }
}

template <int kD, class T>
__global__ void attention_dkv_kernel(Geometry g, const T* q, const T* k, const T* v, const T* dout,
                                     const acc_t<T>* lse, const acc_t<T>* delta, const uint8_t* pad,
                                     T* dk, T* dv) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int64_t krow = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (krow >= g.bh * g.s) return;
  const int64_t bh = krow / g.s, j = krow % g.s, b = bh / g.heads;
  A kj[kD], vj[kD], qi[kD], gi[kD], ak[kD], av[kD];
  load_row<kD>(k + krow * g.d, g.d, lane, kj);
  load_row<kD>(v + krow * g.d, g.d, lane, vj);
#pragma unroll
  for (int u = 0; u < kD; ++u) ak[u] = av[u] = 0;
  const A scale = static_cast<A>(g.scale);
  const bool padded = pad && pad[b * g.s + j];
  // Under the causal mask key j is seen by queries i >= j - (S - T).
  const int64_t first = g.causal ? (j - (g.s - g.t) > 0 ? j - (g.s - g.t) : 0) : 0;
  for (int64_t i = padded ? g.t : first; i < g.t; ++i) {
    const int64_t row = bh * g.t + i;
    const A l = lse[row];
    if (l == A(-INFINITY)) continue;
    load_row<kD>(q + row * g.d, g.d, lane, qi);
    load_row<kD>(dout + row * g.d, g.d, lane, gi);
    const A p = exp(scale * row_dot<kD>(qi, kj) - l);
    const A ds = p * (row_dot<kD>(gi, vj) - delta[row]);
#pragma unroll
    for (int u = 0; u < kD; ++u) {
      av[u] += p * gi[u];
      ak[u] += scale * ds * qi[u];
    }
  }
#pragma unroll
  for (int u = 0; u < kD; ++u) {
    const int64_t c = lane + 32 * u;
    if (c < g.d) {
      dk[krow * g.d + c] = cast_to<T>(ak[u]);
      dv[krow * g.d + c] = cast_to<T>(av[u]);
    }
  }
}

// q (B, H, T, d) and k (B, H, S, d) are contiguous: B*H from numel.
Geometry geometry(const View& q, int64_t heads, int64_t t, int64_t s, double scale, bool causal) {
  return {q.numel / (t * q.last), heads, t, s, q.last, scale, causal};
}

// Runs f(std::integral_constant<int, kD>) for head dims up to 128.
template <class F>
void dispatch_head_dim(int64_t d, F&& f) {
  if (d <= 32) f(std::integral_constant<int, 1>{});
  else if (d <= 64) f(std::integral_constant<int, 2>{});
  else if (d <= 128) f(std::integral_constant<int, 4>{});
  else fail("attention: head dim {} exceeds the 128 the CUDA kernel handles", d);
}

int device_now() {
  int d = 0;
  check(cudaGetDevice(&d), "cudaGetDevice");
  return d;
}

}  // namespace

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                       int64_t t, int64_t s, double scale, bool causal, const Tensor& key_padding,
                       const Tensor& out, const Tensor& lse) {
  View qv = view_of(q), kv = view_of(k), vv = view_of(v), pv = view_of(key_padding),
       ov = view_of(out), lv = view_of(lse);
  const Geometry g = geometry(qv, heads, t, s, scale, causal);
  const int64_t rows = g.bh * g.t;
  if (rows == 0) return;
  dispatch_floating("attention", qv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_head_dim(g.d, [&](auto kd) {
      attention_forward_kernel<decltype(kd)::value, T>
          <<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), 32 * kWarps, 0, current_stream()>>>(
              g, static_cast<const T*>(qv.data), static_cast<const T*>(kv.data),
              static_cast<const T*>(vv.data), static_cast<const uint8_t*>(pv.data),
              static_cast<T*>(ov.data), static_cast<acc_t<T>*>(lv.data));
    });
  });
  check_launch("attention_forward_kernel");
}

void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, int64_t heads, int64_t t, int64_t s,
                        double scale, bool causal, const Tensor& key_padding, const Tensor& dq,
                        const Tensor& dk, const Tensor& dv) {
  View gv = view_of(dout), qv = view_of(q), kv = view_of(k), vv = view_of(v), ov = view_of(out),
       lv = view_of(lse), pv = view_of(key_padding), dqv = view_of(dq), dkv = view_of(dk),
       dvv = view_of(dv);
  const Geometry g = geometry(qv, heads, t, s, scale, causal);
  const int64_t rows = g.bh * g.t, krows = g.bh * g.s;
  if (rows == 0) return;
  dispatch_floating("attention_backward", qv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    const int device = device_now();
    void* delta = alloc(device, sizeof(A) * rows);
    attention_delta_kernel<T><<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), 32 * kWarps, 0,
                                current_stream()>>>(rows, g.d, static_cast<const T*>(gv.data),
                                                    static_cast<const T*>(ov.data), static_cast<A*>(delta));
    dispatch_head_dim(g.d, [&](auto kd) {
      constexpr int kD = decltype(kd)::value;
      attention_dq_kernel<kD, T>
          <<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), 32 * kWarps, 0, current_stream()>>>(
              g, static_cast<const T*>(qv.data), static_cast<const T*>(kv.data),
              static_cast<const T*>(vv.data), static_cast<const T*>(gv.data),
              static_cast<const A*>(lv.data), static_cast<const A*>(delta),
              static_cast<const uint8_t*>(pv.data), static_cast<T*>(dqv.data));
      attention_dkv_kernel<kD, T>
          <<<static_cast<unsigned>((krows + kWarps - 1) / kWarps), 32 * kWarps, 0, current_stream()>>>(
              g, static_cast<const T*>(qv.data), static_cast<const T*>(kv.data),
              static_cast<const T*>(vv.data), static_cast<const T*>(gv.data),
              static_cast<const A*>(lv.data), static_cast<const A*>(delta),
              static_cast<const uint8_t*>(pv.data), static_cast<T*>(dkv.data), static_cast<T*>(dvv.data));
    });
    free(device, delta, sizeof(A) * rows);  // stream-ordered: reused only by later work
  });
  check_launch("attention_backward");
}

}  // namespace qs::engine::cuda
