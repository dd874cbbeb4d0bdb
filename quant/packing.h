#pragma once
// Packing integer codes into bit strings per row, in the layout of
// engine/packed_codes.h (the kernels read the same layout; dequantization is
// engine::dequantize_packed).
#include "engine/tensor.h"

namespace qs::quant {

// codes: u8 (out, in), every value < 2^bits -> u8 (out, row_bytes(in, bits)).
engine::Tensor pack_codes(const engine::Tensor& codes, int bits);
engine::Tensor unpack_codes(const engine::Tensor& packed, int bits, int64_t in);

}  // namespace qs::quant
