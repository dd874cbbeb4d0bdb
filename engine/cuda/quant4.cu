// Packed 4-bit weights on the GPU: a warp per output row reads the row's
// codes once (32-bit words, eight codes each) for up to eight input rows, so
// decoding streams the 8x smaller weights at memory speed; dequantization for
// the batched path is one thread per byte.
#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

constexpr int kMaxRows = 8;  // input rows per launch of the matvec kernel
constexpr int kWarpsPerBlock = 8;

// kWords: the row is read as 32-bit words (needs in % 8 == 0 and group % 8 ==
// 0, so a word never straddles a group); otherwise byte by byte.
template <bool kWords>
__global__ void matvec_4bit_kernel(const float* __restrict__ x, const uint8_t* __restrict__ packed,
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
  if (kWords) {
    const uint32_t* words = reinterpret_cast<const uint32_t*>(row);
    for (int64_t w = lane; w < half / 4; w += 32) {
      const uint32_t bits = __ldg(words + w);
      const int64_t j0 = 8 * w, g = j0 / group;
      const float sg = __ldg(s + g), zg = __ldg(z + g);
      float code[8];
#pragma unroll
      for (int c = 0; c < 8; ++c) code[c] = static_cast<float>((bits >> (4 * c)) & 15u) - zg;
#pragma unroll
      for (int b = 0; b < kMaxRows; ++b) {
        if (b >= n) break;
        const float4* xv = reinterpret_cast<const float4*>(x + b * in + j0);
        const float4 a = __ldg(xv), c4 = __ldg(xv + 1);
        acc[b] += sg * (code[0] * a.x + code[1] * a.y + code[2] * a.z + code[3] * a.w +
                        code[4] * c4.x + code[5] * c4.y + code[6] * c4.z + code[7] * c4.w);
      }
    }
  } else {
    for (int64_t k = lane; k < half; k += 32) {
      const uint8_t byte = row[k];
      const int64_t j0 = 2 * k, g = j0 / group;
      const float lo = static_cast<float>(byte & 15) - z[g], hi = static_cast<float>(byte >> 4) - z[g];
      for (int b = 0; b < n && b < kMaxRows; ++b) {
        acc[b] += s[g] * (lo * x[b * in + j0] + hi * x[b * in + j0 + 1]);
      }
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

__global__ void dequantize_4bit_kernel(const uint8_t* packed, const float* scale, const float* zero,
                                       int64_t out, int64_t in, int64_t group, float* w) {
  const int64_t half = in / 2, groups = (in + group - 1) / group;
  QS_GRID_STRIDE(k, out * half) {
    const int64_t r = k / half, j = 2 * (k % half), g = r * groups + j / group;
    const uint8_t byte = packed[k];
    const float s = scale[g], z = zero[g];
    w[r * in + j] = (static_cast<float>(byte & 15) - z) * s;
    w[r * in + j + 1] = (static_cast<float>(byte >> 4) - z) * s;
  }
}

}  // namespace

void matvec_4bit(const Tensor& x, const Tensor& packed, const Tensor& scale, const Tensor& zero,
                 int64_t group_size, const Tensor& y) {
  View xv = view_of(x), pv = view_of(packed), sv = view_of(scale), zv = view_of(zero), yv = view_of(y);
  const int64_t in = xv.last, n = in ? xv.numel / in : 0, out = in ? pv.numel / (in / 2) : 0;
  if (n == 0 || out == 0) return;
  const bool words = in % 8 == 0 && group_size % 8 == 0;
  const unsigned blocks = static_cast<unsigned>((out + kWarpsPerBlock - 1) / kWarpsPerBlock);
  for (int64_t b0 = 0; b0 < n; b0 += kMaxRows) {
    const int64_t nb = n - b0 < kMaxRows ? n - b0 : kMaxRows;
    const float* xb = static_cast<const float*>(xv.data) + b0 * in;
    float* yb = static_cast<float*>(yv.data) + b0 * out;
    if (words) {
      matvec_4bit_kernel<true><<<blocks, 32 * kWarpsPerBlock, 0, current_stream()>>>(
          xb, static_cast<const uint8_t*>(pv.data), static_cast<const float*>(sv.data),
          static_cast<const float*>(zv.data), nb, in, out, group_size, yb);
    } else {
      matvec_4bit_kernel<false><<<blocks, 32 * kWarpsPerBlock, 0, current_stream()>>>(
          xb, static_cast<const uint8_t*>(pv.data), static_cast<const float*>(sv.data),
          static_cast<const float*>(zv.data), nb, in, out, group_size, yb);
    }
  }
  check_launch("matvec_4bit_kernel");
}

void dequantize_4bit(const Tensor& packed, const Tensor& scale, const Tensor& zero,
                     int64_t group_size, const Tensor& w) {
  View pv = view_of(packed), sv = view_of(scale), zv = view_of(zero), wv = view_of(w);
  const int64_t in = wv.last, out = in ? wv.numel / in : 0;
  if (out == 0 || in == 0) return;
  dequantize_4bit_kernel<<<blocks_for(out * in / 2), kThreads, 0, current_stream()>>>(
      static_cast<const uint8_t*>(pv.data), static_cast<const float*>(sv.data),
      static_cast<const float*>(zv.data), out, in, group_size, static_cast<float*>(wv.data));
  check_launch("dequantize_4bit_kernel");
}

}  // namespace qs::engine::cuda
