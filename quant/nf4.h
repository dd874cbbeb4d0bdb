#pragma once
// NF4 as QLoRA defines it: 16 NormalFloat levels, block-wise absmax scaling
// (blocks of 64 consecutive weights of a row), and optional double
// quantization of the absmax constants (8-bit, blocks of 256, after
// subtracting their mean).
#include <array>
#include <cstdint>

#include "engine/tensor.h"

namespace qs::quant {

using engine::Tensor;

// The published NF4 code book (bitsandbytes / QLoRA appendix), ascending.
extern const std::array<float, 16> kNf4Levels;

struct Nf4Weight {
  int64_t out = 0, in = 0, block = 64;
  bool double_quant = true;
  Tensor packed;  // u8 (out, in / 2): two 4-bit level indices per byte, low nibble first
  Tensor absmax;  // f32 (out * in / block), when !double_quant
  // double quantization of the absmax constants
  Tensor absmax_codes;  // i32 holding int8 values (out * in / block)
  Tensor absmax_scale;  // f32 (ceil(blocks / 256))
  float absmax_offset = 0.0f;

  double bits_per_parameter() const;
  int64_t bytes() const;
};

Nf4Weight nf4_quantize(const Tensor& w, int64_t block = 64, bool double_quant = true);
// Rows [r0, r1) dequantized into dst ((r1 - r0) x in, f32).
void nf4_dequantize_rows(const Nf4Weight& q, int64_t r0, int64_t r1, float* dst);
Tensor nf4_dequantize(const Nf4Weight& q);

}  // namespace qs::quant
