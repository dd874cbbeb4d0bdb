// Packed low-bit weights: the fused 4-bit batch-1 product, and
// dequantization of 2/3/4/8-bit bit streams. Codes
// are read straight from the packed rows, with
//   y[r] = sum_g s[r,g] (sum_j code_j x_j - z[r,g] sum_j x_j)   over group g.
// AVX-512 where compiled in, a scalar loop otherwise; OpenMP across rows.
// Also the fused grid fake quantization (QSLAW's training-time weights).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/packed_codes.h"

namespace qs::engine::cpu {

void matvec_4bit(const Tensor& x, const Tensor& packed, const Tensor& scale, const Tensor& zero,
                 int64_t group_size, const Tensor& y) {
  const int64_t n = x.size(0), in = x.size(1), out = packed.size(0), groups = scale.size(1);
  const uint8_t* pp = packed.data<uint8_t>();
  const float* sp = scale.data<float>();
  const float* zp = zero.data<float>();
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const int64_t half = in / 2;
  for (int64_t b = 0; b < n; ++b) {
    // x split into even and odd positions: code 2i sits in the low nibble of
    // byte i, code 2i + 1 in the high nibble, so no shuffles are needed.
    std::vector<float> even(half), odd(half), group_sum(groups, 0.0f);
    const float* xb = xp + b * in;
    for (int64_t i = 0; i < half; ++i) {
      even[i] = xb[2 * i];
      odd[i] = xb[2 * i + 1];
    }
    for (int64_t j = 0; j < in; ++j) group_sum[j / group_size] += xb[j];
    const int64_t gb = group_size / 2;  // bytes per group
#pragma omp parallel for schedule(static) if (out * in >= (1 << 16))
    for (int64_t r = 0; r < out; ++r) {
      const uint8_t* row = pp + r * half;
      const float* s = sp + r * groups;
      const float* z = zp + r * groups;
      float total = 0.0f;
      int64_t g = 0;
#if defined(__AVX512F__)
      if (gb % 16 == 0) {
        __m512 acc = _mm512_setzero_ps();
        const __m512i low4 = _mm512_set1_epi32(15);
        for (; g < groups && (g + 1) * gb <= half; ++g) {
          __m512 dot = _mm512_setzero_ps();
          for (int64_t k = g * gb; k < (g + 1) * gb; k += 16) {
            const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k)));
            const __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(bytes, low4));
            const __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(bytes, 4));
            dot = _mm512_fmadd_ps(lo, _mm512_loadu_ps(even.data() + k), dot);
            dot = _mm512_fmadd_ps(hi, _mm512_loadu_ps(odd.data() + k), dot);
          }
          acc = _mm512_fmadd_ps(_mm512_set1_ps(s[g]), dot, acc);
          total -= s[g] * z[g] * group_sum[g];
        }
        total += _mm512_reduce_add_ps(acc);
      }
#endif
      for (; g < groups; ++g) {
        float dot = 0.0f;
        for (int64_t k = g * gb; k < std::min(half, (g + 1) * gb); ++k) {
          dot += static_cast<float>(row[k] & 15) * even[k] + static_cast<float>(row[k] >> 4) * odd[k];
        }
        total += s[g] * (dot - z[g] * group_sum[g]);
      }
      yp[b * out + r] = total;
    }
  }
}

void dequantize_packed(const Tensor& packed, const Tensor& scale, const Tensor& zero, int bits,
                       int64_t group_size, const Tensor& w) {
  const int64_t out = w.size(0), in = w.size(1), groups = scale.size(1), row_bytes = packed.size(1);
  const uint8_t* pp = packed.data<uint8_t>();
  const float* sp = scale.data<float>();
  const float* zp = zero.data<float>();
  float* wp = w.data<float>();
#pragma omp parallel for schedule(static) if (out * in >= kParallelGrain && !omp_in_parallel())
  for (int64_t r = 0; r < out; ++r) {
    const uint8_t* row = pp + r * row_bytes;
    float* dst = wp + r * in;
    for (int64_t g = 0; g < groups; ++g) {
      const float s = sp[r * groups + g], z = zp[r * groups + g];
      const int64_t j0 = g * group_size, j1 = std::min(in, j0 + group_size);
      // The byte-aligned widths skip the general two-byte read.
      if (bits == 4) {
        for (int64_t j = j0; j < j1; ++j) {
          const uint8_t byte = row[j >> 1];
          dst[j] = (static_cast<float>((j & 1) ? byte >> 4 : byte & 15) - z) * s;
        }
      } else if (bits == 8) {
        for (int64_t j = j0; j < j1; ++j) dst[j] = (static_cast<float>(row[j]) - z) * s;
      } else {
        for (int64_t j = j0; j < j1; ++j) {
          dst[j] = (static_cast<float>(packing::read_code(row, j, bits, row_bytes)) - z) * s;
        }
      }
    }
  }
}

void fake_quantize_grid(const Tensor& w, const Tensor& scale, const Tensor& zero, const Tensor& alpha, double levels,
                        int64_t group_size, const Tensor& w_hat) {
  const int64_t out = w.size(0), in = w.size(1), groups = scale.size(1);
  const float* wp = w.data<float>();
  const float* sp = scale.data<float>();
  const float* zp = zero.data<float>();
  const float* ap = alpha.defined() ? alpha.data<float>() : nullptr;
  float* yp = w_hat.data<float>();
  const float q = static_cast<float>(levels);
#pragma omp parallel for schedule(static) if (out * in >= kParallelGrain)
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t k = r * groups + g, j0 = g * group_size, j1 = std::min(in, j0 + group_size);
      const float s = sp[k], z = zp[k], step = ap ? s * ap[k] : s;
      const float* wr = wp + r * in;
      float* yr = yp + r * in;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const float c = std::min(std::max(std::nearbyint(wr[j] / step) + z, 0.0f), q);
        yr[j] = (c - z) * s;
      }
    }
  }
}

void fake_quantize_grid_backward(const Tensor& dy, const Tensor& w, const Tensor& scale, const Tensor& zero,
                                 const Tensor& alpha, double levels, int64_t group_size, const Tensor& dw,
                                 const Tensor& dalpha) {
  const int64_t out = w.size(0), in = w.size(1), groups = scale.size(1);
  const float* gp = dy.data<float>();
  const float* wp = w.data<float>();
  const float* sp = scale.data<float>();
  const float* zp = zero.data<float>();
  const float* ap = alpha.defined() ? alpha.data<float>() : nullptr;
  float* dwp = dw.defined() ? dw.data<float>() : nullptr;
  float* dap = dalpha.defined() ? dalpha.data<float>() : nullptr;
  const float q = static_cast<float>(levels);
#pragma omp parallel for schedule(static) if (out * in >= kParallelGrain)
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t k = r * groups + g, j0 = g * group_size, j1 = std::min(in, j0 + group_size);
      const float s = sp[k], z = zp[k], a = ap ? ap[k] : 1.0f, step = ap ? s * a : s;
      const float* wr = wp + r * in;
      const float* gr = gp + r * in;
      double acc = 0.0;  // sum over the group of dy * inside * w
#pragma omp simd reduction(+ : acc)
      for (int64_t j = j0; j < j1; ++j) {
        const float c = std::nearbyint(wr[j] / step) + z;
        const float pass = (c >= 0.0f && c <= q) ? gr[j] : 0.0f;
        if (dwp) dwp[r * in + j] = pass / a;
        acc += static_cast<double>(pass * wr[j]);
      }
      if (dap) dap[k] = static_cast<float>(-acc / (static_cast<double>(a) * a));
    }
  }
}

}  // namespace qs::engine::cpu
