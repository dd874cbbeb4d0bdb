#pragma once
// How a weight matrix W (out, in) is quantized: each row is cut into groups
// of group_size consecutive input columns, each group with its own scale and
// zero point; codes are unsigned integers in [0, 2^bits - 1].
#include <cstdint>
#include <string>

#include "engine/error.h"

namespace qs::quant {

struct QuantSpec {
  int bits = 4;
  int64_t group_size = 64;
  bool symmetric = false;  // zero point fixed at 2^(bits-1)

  int64_t levels() const { return (int64_t{1} << bits) - 1; }  // Q
  // Groups per row. When group_size does not divide `in`, the last group is
  // shorter; storage pads it by repeating its last column, which changes no
  // group's min or max.
  int64_t groups(int64_t in) const { return (in + group_size - 1) / group_size; }
  void check() const {
    QS_CHECK(bits == 2 || bits == 3 || bits == 4 || bits == 8, "quant: bits must be 2, 3, 4 or 8, got {}", bits);
    QS_CHECK(group_size > 0, "quant: group_size must be positive, got {}", group_size);
  }
  std::string str() const {
    return fmt::format("{}-bit {} g{}", bits, symmetric ? "sym" : "asym", group_size);
  }
};

}  // namespace qs::quant
