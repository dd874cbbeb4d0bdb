// Attention that never materialises the (T, S) score matrix: a warp per query
// row walks the keys with an online softmax (running max and sum), each lane
// holding kD = head_dim / 32 (rounded up) channels of the output; the warps of
// a block share each tile of keys and values through shared memory, and
// within a tile each lane scores one key (no per-key warp reductions).
// The backward recomputes the probabilities from the saved log-sum-exp:
// a warp per query row for dq, a warp per key row for dk and dv (no atomics).
// CUDA cores only: a tensor-core (wgmma/mma) version is the next step.
#include <cmath>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

constexpr int kWarps = 8;  // warps (rows) per block

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

// Keys (or queries) staged in shared memory per step: 32 rows of f32, 8 of
// f64. Rows are padded by one element so that lane l reading row l, channel c
// hits bank (l + c) mod 32: conflict-free.
template <class A>
struct TileRows {
  static constexpr int value = sizeof(A) == 8 ? 8 : 32;
};

// Stages rows [r0, r0 + kTile) of two (rows, d) matrices of one (b, h) slice
// into shared memory as A, zero past the end; every thread of the block calls it.
template <int kD, int kTile, class T, class A>
__device__ void stage(const T* a, const T* b, int64_t r0, int64_t rows, int64_t d,
                      A (&sa)[kTile][32 * kD + 1], A (&sb)[kTile][32 * kD + 1]) {
  for (int x = threadIdx.x; x < kTile * 32 * kD; x += blockDim.x) {
    const int rr = x / (32 * kD), c = x % (32 * kD);
    const int64_t r = r0 + rr;
    const bool in = r < rows && c < d;
    sa[rr][c] = in ? load(a + r * d + c) : A(0);
    sb[rr][c] = in ? load(b + r * d + c) : A(0);
  }
}

// sum_c row[c] * tile_row[c]: one lane's dot with the staged row it owns (row
// is the warp's own q or dO in shared memory, read as a broadcast).
template <class A>
__device__ __forceinline__ A lane_dot(const A* row, const A* tile_row, int64_t d) {
  A s = 0;
  for (int64_t c = 0; c < d; ++c) s += row[c] * tile_row[c];
  return s;
}

template <int kD, class A>
__device__ __forceinline__ void put_row(A* dst, const A (&reg)[kD], int lane) {
#pragma unroll
  for (int u = 0; u < kD; ++u) dst[lane + 32 * u] = reg[u];
}

template <class A>
__device__ __forceinline__ A warp_max(A v) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// One past the last key that any of the kWarps queries from i0 may see.
__device__ __forceinline__ int64_t keys_end(const Geometry& g, int64_t i0) {
  if (!g.causal) return g.s;
  const int64_t i_last = i0 + kWarps - 1 < g.t - 1 ? i0 + kWarps - 1 : g.t - 1;
  return i_last + g.s - g.t + 1 < g.s ? i_last + g.s - g.t + 1 : g.s;
}

// A block = kWarps consecutive query rows of one (b, h); key/value tiles are
// staged in shared memory once for all of them. Per tile, lane l scores key l,
// the warp updates the running max and sum once, then every lane adds the
// tile's weighted values for its channels.
template <int kD, class T>
__global__ void attention_forward_kernel(Geometry g, const T* q, const T* k, const T* v,
                                         const uint8_t* pad, T* out, acc_t<T>* lse) {
  using A = acc_t<T>;
  constexpr int kTile = TileRows<A>::value;
  __shared__ A ks[kTile][32 * kD + 1], vs[kTile][32 * kD + 1];
  __shared__ A qsh[kWarps][32 * kD];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t blocks_per_bh = (g.t + kWarps - 1) / kWarps;
  const int64_t bh = blockIdx.x / blocks_per_bh, i0 = (blockIdx.x % blocks_per_bh) * kWarps;
  const int64_t i = i0 + warp, b = bh / g.heads, row = bh * g.t + i;
  const bool active = i < g.t;
  if (active) {
    A qi[kD];
    load_row<kD>(q + row * g.d, g.d, lane, qi);
    put_row<kD>(qsh[warp], qi, lane);
  }
  __syncwarp();
  A acc[kD];
#pragma unroll
  for (int u = 0; u < kD; ++u) acc[u] = 0;
  A mx = -INFINITY, sum = 0;
  const A scale = static_cast<A>(g.scale);
  const int64_t j_end = keys_end(g, i0);
  for (int64_t j0 = 0; j0 < j_end; j0 += kTile) {
    __syncthreads();
    stage<kD, kTile>(k + bh * g.s * g.d, v + bh * g.s * g.d, j0, g.s, g.d, ks, vs);
    __syncthreads();
    if (!active) continue;
    const int64_t j = j0 + lane;
    const bool mine = lane < kTile && j < j_end && visible(g, i, j, pad, b);
    const A sc = mine ? scale * lane_dot(qsh[warp], ks[lane], g.d) : A(-INFINITY);
    const A m_new = max(mx, warp_max(sc));
    if (m_new == A(-INFINITY)) continue;  // nothing visible yet
    const A correction = exp(mx - m_new);  // 0 while nothing was seen
    const A p = mine ? exp(sc - m_new) : A(0);
    sum = sum * correction + warp_sum(p);
#pragma unroll
    for (int u = 0; u < kD; ++u) acc[u] *= correction;
    for (int jj = 0; jj < kTile; ++jj) {
      const A pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
      for (int u = 0; u < kD; ++u) acc[u] += pj * vs[jj][lane + 32 * u];
    }
    mx = m_new;
  }
  if (!active) return;
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

// dq: blocks of query rows as in the forward pass, K and V tiles shared;
// lane l computes key l's probability and score gradient.
template <int kD, class T>
__global__ void attention_dq_kernel(Geometry g, const T* q, const T* k, const T* v, const T* dout,
                                    const acc_t<T>* lse, const acc_t<T>* delta, const uint8_t* pad,
                                    T* dq) {
  using A = acc_t<T>;
  constexpr int kTile = TileRows<A>::value;
  __shared__ A ks[kTile][32 * kD + 1], vs[kTile][32 * kD + 1];
  __shared__ A qsh[kWarps][32 * kD], gsh[kWarps][32 * kD];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t blocks_per_bh = (g.t + kWarps - 1) / kWarps;
  const int64_t bh = blockIdx.x / blocks_per_bh, i0 = (blockIdx.x % blocks_per_bh) * kWarps;
  const int64_t i = i0 + warp, b = bh / g.heads, row = bh * g.t + i;
  const bool active = i < g.t && lse[row] != A(-INFINITY);
  if (active) {
    A r[kD];
    load_row<kD>(q + row * g.d, g.d, lane, r);
    put_row<kD>(qsh[warp], r, lane);
    load_row<kD>(dout + row * g.d, g.d, lane, r);
    put_row<kD>(gsh[warp], r, lane);
  }
  __syncwarp();
  A acc[kD];
#pragma unroll
  for (int u = 0; u < kD; ++u) acc[u] = 0;
  const A l = active ? lse[row] : A(0), dsum = active ? delta[row] : A(0);
  const A scale = static_cast<A>(g.scale);
  const int64_t j_end = keys_end(g, i0);
  for (int64_t j0 = 0; j0 < j_end; j0 += kTile) {
    __syncthreads();
    stage<kD, kTile>(k + bh * g.s * g.d, v + bh * g.s * g.d, j0, g.s, g.d, ks, vs);
    __syncthreads();
    if (!active) continue;
    const int64_t j = j0 + lane;
    const bool mine = lane < kTile && j < j_end && visible(g, i, j, pad, b);
    A ds = 0;
    if (mine) {
      const A p = exp(scale * lane_dot(qsh[warp], ks[lane], g.d) - l);
      ds = scale * p * (lane_dot(gsh[warp], vs[lane], g.d) - dsum);
    }
    for (int jj = 0; jj < kTile; ++jj) {
      const A dj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
      for (int u = 0; u < kD; ++u) acc[u] += dj * ks[jj][lane + 32 * u];
    }
  }
  if (i >= g.t) return;
#pragma unroll
  for (int u = 0; u < kD; ++u) {
    const int64_t c = lane + 32 * u;
    if (c < g.d) dq[row * g.d + c] = cast_to<T>(acc[u]);
  }
}

// dk, dv: a block = kWarps consecutive key rows of one (b, h); query and
// output-gradient tiles (with their lse and delta) are shared, and lane l
// computes query l's probability and score gradient for the warp's key.
template <int kD, class T>
__global__ void attention_dkv_kernel(Geometry g, const T* q, const T* k, const T* v, const T* dout,
                                     const acc_t<T>* lse, const acc_t<T>* delta, const uint8_t* pad,
                                     T* dk, T* dv) {
  using A = acc_t<T>;
  constexpr int kTile = TileRows<A>::value;
  __shared__ A qs[kTile][32 * kD + 1], gs[kTile][32 * kD + 1];
  __shared__ A ksh[kWarps][32 * kD], vsh[kWarps][32 * kD];
  __shared__ A ls[kTile], dls[kTile];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t blocks_per_bh = (g.s + kWarps - 1) / kWarps;
  const int64_t bh = blockIdx.x / blocks_per_bh, j0 = (blockIdx.x % blocks_per_bh) * kWarps;
  const int64_t j = j0 + warp, b = bh / g.heads, krow = bh * g.s + j;
  const bool active = j < g.s && !(pad && pad[b * g.s + j]);
  if (active) {
    A r[kD];
    load_row<kD>(k + krow * g.d, g.d, lane, r);
    put_row<kD>(ksh[warp], r, lane);
    load_row<kD>(v + krow * g.d, g.d, lane, r);
    put_row<kD>(vsh[warp], r, lane);
  }
  __syncwarp();
  A ak[kD], av[kD];
#pragma unroll
  for (int u = 0; u < kD; ++u) ak[u] = av[u] = 0;
  const A scale = static_cast<A>(g.scale);
  // Under the causal mask key j is seen by queries i >= j - (S - T).
  const int64_t i_begin = g.causal ? (j0 - (g.s - g.t) > 0 ? j0 - (g.s - g.t) : 0) : 0;
  for (int64_t i0 = i_begin; i0 < g.t; i0 += kTile) {
    __syncthreads();
    stage<kD, kTile>(q + bh * g.t * g.d, dout + bh * g.t * g.d, i0, g.t, g.d, qs, gs);
    for (int x = threadIdx.x; x < kTile; x += blockDim.x) {
      const bool in = i0 + x < g.t;
      ls[x] = in ? lse[bh * g.t + i0 + x] : A(-INFINITY);
      dls[x] = in ? delta[bh * g.t + i0 + x] : A(0);
    }
    __syncthreads();
    if (!active) continue;
    const int64_t i = i0 + lane;
    const bool mine = lane < kTile && i < g.t && ls[lane] != A(-INFINITY) &&
                      !(g.causal && j > i + g.s - g.t);
    A p = 0, ds = 0;
    if (mine) {
      p = exp(scale * lane_dot(ksh[warp], qs[lane], g.d) - ls[lane]);
      ds = scale * p * (lane_dot(vsh[warp], gs[lane], g.d) - dls[lane]);
    }
    for (int ii = 0; ii < kTile; ++ii) {
      const A pi = __shfl_sync(0xffffffffu, p, ii), di = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
      for (int u = 0; u < kD; ++u) {
        av[u] += pi * gs[ii][lane + 32 * u];
        ak[u] += di * qs[ii][lane + 32 * u];
      }
    }
  }
  if (j >= g.s) return;
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
      const int64_t blocks = g.bh * ((g.t + kWarps - 1) / kWarps);
      attention_forward_kernel<decltype(kd)::value, T>
          <<<static_cast<unsigned>(blocks), 32 * kWarps, 0, current_stream()>>>(
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
  const int64_t rows = g.bh * g.t;
  if (rows == 0) return;
  dispatch_floating("attention_backward", qv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    Scratch scratch(sizeof(A) * rows);
    A* delta = scratch.as<A>();
    attention_delta_kernel<T><<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), 32 * kWarps, 0,
                                current_stream()>>>(rows, g.d, static_cast<const T*>(gv.data),
                                                    static_cast<const T*>(ov.data), delta);
    dispatch_head_dim(g.d, [&](auto kd) {
      constexpr int kD = decltype(kd)::value;
      attention_dq_kernel<kD, T>
          <<<static_cast<unsigned>(g.bh * ((g.t + kWarps - 1) / kWarps)), 32 * kWarps, 0, current_stream()>>>(
              g, static_cast<const T*>(qv.data), static_cast<const T*>(kv.data),
              static_cast<const T*>(vv.data), static_cast<const T*>(gv.data),
              static_cast<const A*>(lv.data), delta,
              static_cast<const uint8_t*>(pv.data), static_cast<T*>(dqv.data));
      attention_dkv_kernel<kD, T>
          <<<static_cast<unsigned>(g.bh * ((g.s + kWarps - 1) / kWarps)), 32 * kWarps, 0, current_stream()>>>(
              g, static_cast<const T*>(qv.data), static_cast<const T*>(kv.data),
              static_cast<const T*>(vv.data), static_cast<const T*>(gv.data),
              static_cast<const A*>(lv.data), delta,
              static_cast<const uint8_t*>(pv.data), static_cast<T*>(dkv.data), static_cast<T*>(dvv.data));
    });
  });
  check_launch("attention_backward");
}

}  // namespace qs::engine::cuda
