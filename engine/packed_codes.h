#pragma once
// The packed-code layout, written once for quant/packing.cpp (packing on the
// host), the CPU kernels and the CUDA kernels (QS_HD: host + device).
// Each row of a quantized weight is one bit string: code j occupies bits
// [j b, (j + 1) b), least significant bit first; rows start on a byte
// boundary. So 8-bit is one code per byte, 4-bit two per byte (low nibble
// first), 2-bit four per byte, and 3-bit codes may straddle two bytes.
#include <cstdint>

#include "engine/math_functors.h"  // QS_HD

namespace qs::engine::packing {

QS_HD inline constexpr bool valid_bits(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

QS_HD inline constexpr int64_t row_bytes(int64_t in, int bits) { return (in * bits + 7) / 8; }

// Code j of a row; reads at most the two bytes that can hold it, never past
// the row's row_bytes.
QS_HD inline uint32_t read_code(const uint8_t* row, int64_t j, int bits, int64_t row_bytes) {
  const int64_t bit = j * bits, byte = bit >> 3;
  uint32_t word = row[byte];
  if (byte + 1 < row_bytes) word |= static_cast<uint32_t>(row[byte + 1]) << 8;
  return (word >> (bit & 7)) & ((1u << bits) - 1);
}

// ORs code v (< 2^bits) into a zero-initialised row at position j.
QS_HD inline void write_code(uint8_t* row, int64_t j, int bits, uint32_t v) {
  const int64_t bit = j * bits, byte = bit >> 3;
  const uint32_t shifted = v << (bit & 7);
  row[byte] |= static_cast<uint8_t>(shifted);
  if ((bit & 7) + bits > 8) row[byte + 1] |= static_cast<uint8_t>(shifted >> 8);
}

}  // namespace qs::engine::packing
