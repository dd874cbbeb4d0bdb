#include "quant/packing.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "engine/error.h"
#include "engine/ops.h"

namespace qs::quant {

namespace e = qs::engine;

int64_t packed_row_bytes(int64_t in, int bits) { return (in * bits + 7) / 8; }

namespace {

void check_bits(int bits) {
  QS_CHECK(bits == 2 || bits == 3 || bits == 4 || bits == 8, "packing: bits must be 2, 3, 4 or 8, got {}", bits);
}

// Reads code j of a row (b bits, LSB first) without reading past the row.
inline uint32_t read_code(const uint8_t* row, int64_t j, int bits, int64_t row_bytes) {
  const int64_t bit = j * bits, byte = bit >> 3;
  uint32_t word = row[byte];
  if (byte + 1 < row_bytes) word |= static_cast<uint32_t>(row[byte + 1]) << 8;
  return (word >> (bit & 7)) & ((1u << bits) - 1);
}

}  // namespace

e::Tensor pack_codes(const e::Tensor& codes, int bits) {
  check_bits(bits);
  QS_CHECK(codes.dim() == 2 && codes.dtype() == e::DType::u8, "pack_codes: codes must be u8 (out, in), got {}",
           e::describe(codes));
  const int64_t out = codes.size(0), in = codes.size(1), rb = packed_row_bytes(in, bits);
  e::Tensor c = codes.contiguous();
  e::Tensor packed = e::zeros({out, rb}, e::DType::u8);
  const uint8_t* cp = c.data<uint8_t>();
  uint8_t* pp = packed.data<uint8_t>();
  const uint32_t max_code = (1u << bits) - 1;
  for (int64_t r = 0; r < out; ++r) {
    uint8_t* row = pp + r * rb;
    for (int64_t j = 0; j < in; ++j) {
      const uint32_t v = cp[r * in + j];
      QS_CHECK(v <= max_code, "pack_codes: code {} at ({}, {}) does not fit in {} bits", v, r, j, bits);
      const int64_t bit = j * bits;
      const uint32_t shifted = v << (bit & 7);
      row[bit >> 3] |= static_cast<uint8_t>(shifted);
      if ((bit & 7) + bits > 8) row[(bit >> 3) + 1] |= static_cast<uint8_t>(shifted >> 8);
    }
  }
  return packed;
}

e::Tensor unpack_codes(const e::Tensor& packed, int bits, int64_t in) {
  check_bits(bits);
  const int64_t out = packed.size(0), rb = packed_row_bytes(in, bits);
  QS_CHECK(packed.dim() == 2 && packed.dtype() == e::DType::u8 && packed.size(1) == rb,
           "unpack_codes: expected u8 ({}, {}) for {} codes of {} bits, got {}", out, rb, in, bits,
           e::describe(packed));
  e::Tensor p = packed.contiguous();
  e::Tensor codes({out, in}, e::DType::u8);
  const uint8_t* pp = p.data<uint8_t>();
  uint8_t* cp = codes.data<uint8_t>();
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t j = 0; j < in; ++j) cp[r * in + j] = static_cast<uint8_t>(read_code(pp + r * rb, j, bits, rb));
  }
  return codes;
}

void dequantize_packed_rows(const e::Tensor& packed, const e::Tensor& scale, const e::Tensor& zero, int bits,
                            int64_t group_size, int64_t in, int64_t r0, int64_t r1, float* out) {
  const int64_t rb = packed.size(1), groups = scale.size(1);
  const uint8_t* pp = packed.data<uint8_t>();
  const float* sp = scale.data<float>();
  const float* zp = zero.data<float>();
#pragma omp parallel for schedule(static) if ((r1 - r0) * in >= 32768 && !omp_in_parallel())
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = pp + r * rb;
    float* dst = out + (r - r0) * in;
    for (int64_t g = 0; g < groups; ++g) {
      const float s = sp[r * groups + g], z = zp[r * groups + g];
      const int64_t j1 = std::min(in, (g + 1) * group_size);
      if (bits == 4) {
        for (int64_t j = g * group_size; j < j1; ++j) {
          const uint8_t byte = row[j >> 1];
          dst[j] = (static_cast<float>((j & 1) ? byte >> 4 : byte & 15) - z) * s;
        }
      } else if (bits == 8) {
        for (int64_t j = g * group_size; j < j1; ++j) dst[j] = (static_cast<float>(row[j]) - z) * s;
      } else {
        for (int64_t j = g * group_size; j < j1; ++j) {
          dst[j] = (static_cast<float>(read_code(row, j, bits, rb)) - z) * s;
        }
      }
    }
  }
}

}  // namespace qs::quant
