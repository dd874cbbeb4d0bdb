#pragma once
// Packed integer codes. Each row of a quantized weight is one bit string:
// code j occupies bits [j b, (j + 1) b), least significant bit first, so
//   8-bit: one code per byte;      4-bit: two codes per byte (low nibble first);
//   2-bit: four codes per byte;    3-bit: eight codes in three bytes (Packed3).
// Rows start on a byte boundary.
#include <cstdint>

#include "engine/tensor.h"

namespace qs::quant {

struct Packed3 {
  uint8_t bytes[3];  // codes c0..c7: c0 in bits 0-2 of bytes[0], c2 straddles bytes 0 and 1, ...
};
static_assert(sizeof(Packed3) == 3, "eight 3-bit codes take exactly three bytes");

int64_t packed_row_bytes(int64_t in, int bits);
// codes: u8 (out, in), every value < 2^bits -> u8 (out, packed_row_bytes).
engine::Tensor pack_codes(const engine::Tensor& codes, int bits);
engine::Tensor unpack_codes(const engine::Tensor& packed, int bits, int64_t in);

// Dequantizes rows [r0, r1) straight from packed codes:
// out (r1 - r0, in) f32 = (code - zero[r, g]) * scale[r, g], g = j / group_size.
void dequantize_packed_rows(const engine::Tensor& packed, const engine::Tensor& scale,
                            const engine::Tensor& zero, int bits, int64_t group_size, int64_t in,
                            int64_t r0, int64_t r1, float* out);

}  // namespace qs::quant
