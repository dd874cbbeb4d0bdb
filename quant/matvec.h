#pragma once
// Batch-1 (decoding) product with packed 4-bit codes, fused: codes are read
// straight from the packed rows (never dequantized into memory), with
//   y[r] = sum_g s[r,g] (sum_j code_j x_j - z[r,g] sum_j x_j)   over group g.
// AVX-512 where compiled in, a scalar loop otherwise; OpenMP across rows.
#include <cstdint>

#include "engine/tensor.h"

namespace qs::quant {

// x: f32 (n, in) with small n; packed: u8 (out, in / 2); scale, zero: f32
// (out, groups). Requires group_size even. y: f32 (n, out).
void matvec_4bit(const engine::Tensor& x, const engine::Tensor& packed, const engine::Tensor& scale,
                 const engine::Tensor& zero, int64_t group_size, const engine::Tensor& y);

}  // namespace qs::quant
