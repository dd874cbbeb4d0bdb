// Packed low-bit weights on the GPU: the 4-bit decoding product reads each
// row's codes once for up to eight input rows, so it streams the 8x smaller
// weights; dequantization (2, 3, 4 or 8 bits) for the batched path is one
// thread per weight.
#include <algorithm>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"
#include "engine/packed_codes.h"

namespace qs::engine::cuda {

namespace {

constexpr int kMaxRows = 8;  // input rows per launch of the matvec kernel
constexpr int kWarpsPerBlock = 8;

// Word path: each lane reads 16 codes (8 bytes) per row at a time and the
// matching 16 x values once, for kRowsPerWarp rows: x is reused from
// registers across rows, so the loads are mostly the codes themselves. Needs
// in % 16 == 0 and group % 16 == 0 (a chunk never straddles a group).
// kN >= n input rows are held in registers (instantiated for 1, 2, 4, 8).
constexpr int kRowsPerWarp = 4;

template <int kN>
__global__ void matvec_4bit_words_kernel(const float* __restrict__ x,
                                         const uint8_t* __restrict__ packed,
                                         const float* __restrict__ scale,
                                         const float* __restrict__ zero, int64_t n, int64_t in,
                                         int64_t out, int64_t group, float* y) {
  const int lane = threadIdx.x & 31;
  const int64_t r0 = (static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5)) * kRowsPerWarp;
  if (r0 >= out) return;
  const int rows = out - r0 < kRowsPerWarp ? static_cast<int>(out - r0) : kRowsPerWarp;
  const int64_t half = in / 2, groups = (in + group - 1) / group, chunks = in / 16;
  float acc[kRowsPerWarp][kN] = {};
  for (int64_t c = lane; c < chunks; c += 32) {
    const int64_t j0 = 16 * c, g = j0 / group;
    float xs[kN][16];
#pragma unroll
    for (int b = 0; b < kN; ++b) {
      if (b >= n) break;
      const float4* xv = reinterpret_cast<const float4*>(x + b * in + j0);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const float4 v = __ldg(xv + q);
        xs[b][4 * q] = v.x;
        xs[b][4 * q + 1] = v.y;
        xs[b][4 * q + 2] = v.z;
        xs[b][4 * q + 3] = v.w;
      }
    }
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      if (rr >= rows) break;
      const int64_t r = r0 + rr;
      const uint2 bits = __ldg(reinterpret_cast<const uint2*>(packed + r * half) + c);
      const float sg = __ldg(scale + r * groups + g), zg = __ldg(zero + r * groups + g);
      float code[16];
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        code[k] = static_cast<float>((bits.x >> (4 * k)) & 15u) - zg;
        code[8 + k] = static_cast<float>((bits.y >> (4 * k)) & 15u) - zg;
      }
#pragma unroll
      for (int b = 0; b < kN; ++b) {
        if (b >= n) break;
        float d = 0.0f;
#pragma unroll
        for (int k = 0; k < 16; ++k) d += code[k] * xs[b][k];
        acc[rr][b] += sg * d;
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    if (rr >= rows) break;
#pragma unroll
    for (int b = 0; b < kN; ++b) {
      if (b >= n) break;
      float v = acc[rr][b];
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0) y[b * out + r0 + rr] = v;
    }
  }
}

// Byte path for any even group: a warp per row, a byte (two codes) per lane.
__global__ void matvec_4bit_bytes_kernel(const float* __restrict__ x, const uint8_t* __restrict__ packed,
                                         const float* __restrict__ scale, const float* __restrict__ zero,
                                         int64_t n, int64_t in, int64_t out, int64_t group, float* y) {
  const int lane = threadIdx.x & 31;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (r >= out) return;
  const int64_t half = in / 2, groups = (in + group - 1) / group;
  const uint8_t* row = packed + r * half;
  const float* s = scale + r * groups;
  const float* z = zero + r * groups;
  float acc[kMaxRows] = {};
  for (int64_t k = lane; k < half; k += 32) {
    const uint8_t byte = row[k];
    const int64_t j0 = 2 * k, g = j0 / group;
    const float lo = static_cast<float>(byte & 15) - z[g], hi = static_cast<float>(byte >> 4) - z[g];
    for (int b = 0; b < n && b < kMaxRows; ++b) {
      acc[b] += s[g] * (lo * x[b * in + j0] + hi * x[b * in + j0 + 1]);
    }
  }
#pragma unroll
  for (int b = 0; b < kMaxRows; ++b) {
    if (b >= n) break;
    float v = acc[b];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) y[b * out + r] = v;
  }
}

// One thread per weight.
__global__ void dequantize_packed_kernel(const uint8_t* packed, const float* scale, const float* zero,
                                         int bits, int64_t out, int64_t in, int64_t row_bytes,
                                         int64_t group, float* w) {
  const int64_t groups = (in + group - 1) / group;
  QS_GRID_STRIDE(k, out * in) {
    const int64_t r = k / in, j = k % in, g = r * groups + j / group;
    const float code = static_cast<float>(packing::read_code(packed + r * row_bytes, j, bits, row_bytes));
    w[k] = (code - zero[g]) * scale[g];
  }
}

// One thread per weight.
__global__ void fake_quantize_grid_kernel(const float* w, const float* scale, const float* zero, const float* alpha,
                                          float levels, int64_t out, int64_t in, int64_t group, float* w_hat) {
  const int64_t groups = (in + group - 1) / group;
  QS_GRID_STRIDE(k, out * in) {
    const int64_t g = (k / in) * groups + (k % in) / group;
    const float s = scale[g], z = zero[g], step = alpha ? s * alpha[g] : s;
    const float c = fminf(fmaxf(nearbyintf(w[k] / step) + z, 0.0f), levels);
    w_hat[k] = (c - z) * s;
  }
}

// One warp per (row, group): lanes stride the group's columns, then a warp sum.
__global__ void fake_quantize_grid_backward_kernel(const float* dy, const float* w, const float* scale,
                                                   const float* zero, const float* alpha, float levels, int64_t out,
                                                   int64_t in, int64_t group, float* dw, float* dalpha) {
  const int64_t groups = (in + group - 1) / group;
  const int lane = threadIdx.x % 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t k = warp; k < out * groups; k += warps) {
    const int64_t r = k / groups, j0 = (k % groups) * group, j1 = j0 + group < in ? j0 + group : in;
    const float s = scale[k], z = zero[k], a = alpha ? alpha[k] : 1.0f, step = alpha ? s * a : s;
    float acc = 0.0f;
    for (int64_t j = j0 + lane; j < j1; j += 32) {
      const int64_t i = r * in + j;
      const float c = nearbyintf(w[i] / step) + z;
      const float pass = (c >= 0.0f && c <= levels) ? dy[i] : 0.0f;
      if (dw) dw[i] = pass / a;
      acc += pass * w[i];
    }
    for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (dalpha && lane == 0) dalpha[k] = -acc / (a * a);
  }
}

}  // namespace

void fake_quantize_grid(const Tensor& w, const Tensor& scale, const Tensor& zero, const Tensor& alpha, double levels,
                        int64_t group_size, const Tensor& w_hat) {
  View wv = view_of(w), sv = view_of(scale), zv = view_of(zero), yv = view_of(w_hat);
  const int64_t in = wv.last, out = in ? wv.numel / in : 0;
  if (out == 0) return;
  const float* ap = static_cast<const float*>(view_of(alpha).data);  // nullptr when undefined
  fake_quantize_grid_kernel<<<blocks_for(out * in), kThreads, 0, current_stream()>>>(
      static_cast<const float*>(wv.data), static_cast<const float*>(sv.data), static_cast<const float*>(zv.data), ap,
      static_cast<float>(levels), out, in, group_size, static_cast<float*>(yv.data));
  check_launch("fake_quantize_grid_kernel");
}

void fake_quantize_grid_backward(const Tensor& dy, const Tensor& w, const Tensor& scale, const Tensor& zero,
                                 const Tensor& alpha, double levels, int64_t group_size, const Tensor& dw,
                                 const Tensor& dalpha) {
  View gv = view_of(dy), wv = view_of(w), sv = view_of(scale), zv = view_of(zero);
  const int64_t in = wv.last, out = in ? wv.numel / in : 0, groups = sv.last;
  if (out == 0) return;
  auto ptr = [](const Tensor& t) { return static_cast<float*>(view_of(t).data); };  // nullptr when undefined
  const int64_t warps = out * groups, per_block = kThreads / 32;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((warps + per_block - 1) / per_block, 65535));
  fake_quantize_grid_backward_kernel<<<blocks, kThreads, 0, current_stream()>>>(
      static_cast<const float*>(gv.data), static_cast<const float*>(wv.data), static_cast<const float*>(sv.data),
      static_cast<const float*>(zv.data), ptr(alpha), static_cast<float>(levels), out, in, group_size, ptr(dw),
      ptr(dalpha));
  check_launch("fake_quantize_grid_backward_kernel");
}

void matvec_4bit(const Tensor& x, const Tensor& packed, const Tensor& scale, const Tensor& zero,
                 int64_t group_size, const Tensor& y) {
  View xv = view_of(x), pv = view_of(packed), sv = view_of(scale), zv = view_of(zero), yv = view_of(y);
  const int64_t in = xv.last, n = in ? xv.numel / in : 0, out = in ? pv.numel / (in / 2) : 0;
  if (n == 0 || out == 0) return;
  const bool words = in % 16 == 0 && group_size % 16 == 0;
  const int64_t rows_per_block = kWarpsPerBlock * (words ? kRowsPerWarp : 1);
  const unsigned blocks = static_cast<unsigned>((out + rows_per_block - 1) / rows_per_block);
  for (int64_t b0 = 0; b0 < n; b0 += kMaxRows) {
    const int64_t nb = n - b0 < kMaxRows ? n - b0 : kMaxRows;
    const float* xb = static_cast<const float*>(xv.data) + b0 * in;
    float* yb = static_cast<float*>(yv.data) + b0 * out;
    auto* kernel = !words ? matvec_4bit_bytes_kernel
                   : nb == 1  ? matvec_4bit_words_kernel<1>
                   : nb == 2  ? matvec_4bit_words_kernel<2>
                   : nb <= 4  ? matvec_4bit_words_kernel<4>
                              : matvec_4bit_words_kernel<8>;
    kernel<<<blocks, 32 * kWarpsPerBlock, 0, current_stream()>>>(
        xb, static_cast<const uint8_t*>(pv.data), static_cast<const float*>(sv.data),
        static_cast<const float*>(zv.data), nb, in, out, group_size, yb);
  }
  check_launch("matvec_4bit_kernel");
}

void dequantize_packed(const Tensor& packed, const Tensor& scale, const Tensor& zero, int bits,
                       int64_t group_size, const Tensor& w) {
  View pv = view_of(packed), sv = view_of(scale), zv = view_of(zero), wv = view_of(w);
  const int64_t in = wv.last, out = in ? wv.numel / in : 0;
  if (out == 0) return;
  dequantize_packed_kernel<<<blocks_for(out * in), kThreads, 0, current_stream()>>>(
      static_cast<const uint8_t*>(pv.data), static_cast<const float*>(sv.data),
      static_cast<const float*>(zv.data), bits, out, in, pv.last, group_size,
      static_cast<float*>(wv.data));
  check_launch("dequantize_packed_kernel");
}

}  // namespace qs::engine::cuda
