// Packed 4-bit weights: dequantization by hand, and the fused matvec against
// the plain product with the dequantized matrix.
#include "engine/ops.h"
#include "support.h"

using namespace qs::engine;
using qs::test::error_of;
using qs::test::has;
using qs::test::values;

namespace {

struct Packed4 {
  Tensor codes, packed, scale, zero;
};

// Random codes (0..15) packed two per byte, with scales and zeros per group.
Packed4 random_packed(int64_t out, int64_t in, int64_t group, uint64_t seed) {
  Generator g(seed);
  const int64_t groups = (in + group - 1) / group;
  Packed4 p;
  p.codes = round(rand({out, in}, g, DType::f32, 0.0, 15.0));
  std::vector<double> c = values(p.codes);
  std::vector<uint8_t> bytes(out * in / 2);
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t i = 0; i < in / 2; ++i) {
      const auto lo = static_cast<uint8_t>(c[r * in + 2 * i]), hi = static_cast<uint8_t>(c[r * in + 2 * i + 1]);
      bytes[r * in / 2 + i] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
  p.packed = from_vector(bytes, {out, in / 2});
  p.scale = rand({out, groups}, g, DType::f32, 0.01, 0.1);
  p.zero = round(rand({out, groups}, g, DType::f32, 0.0, 15.0));
  return p;
}

// (code - zero) * scale with the group of each column, computed with plain ops.
Tensor reference_weight(const Packed4& p, int64_t group) {
  const int64_t in = p.codes.size(1);
  std::vector<int64_t> col_group(in);
  for (int64_t j = 0; j < in; ++j) col_group[j] = j / group;
  Tensor idx = from_vector(col_group);
  return (p.codes - index_select(p.zero, 1, idx)) * index_select(p.scale, 1, idx);
}

}  // namespace

TEST_CASE("dequantize_packed unpacks low then high nibbles with per-group scale and zero") {
  // One row, four columns, group 2: bytes 0x21 -> codes 1, 2 and 0xF0 -> 0, 15.
  Tensor packed = from_vector<uint8_t>({0x21, 0xF0}, {1, 2});
  Tensor scale = from_vector<float>({0.5f, 2.0f}, {1, 2});
  Tensor zero = from_vector<float>({1.0f, 3.0f}, {1, 2});
  CHECK(values(dequantize_packed(packed, scale, zero, 4, 2, 4)) == std::vector<double>{0.0, 0.5, -6.0, 24.0});
  for (int64_t group : {8, 64, 6}) {
    Packed4 p = random_packed(13, 96, group, 1);
    QS_CHECK_CLOSE(dequantize_packed(p.packed, p.scale, p.zero, 4, group, 96), reference_weight(p, group), 1e-6);
  }
}

TEST_CASE("matvec_4bit equals x W^T with the dequantized W, for 1 to 9 rows and ragged groups") {
  for (int64_t group : {64, 32, 6}) {
    for (int64_t n : {1, 3, 9}) {
      Packed4 p = random_packed(40, 192, group, 2);
      Generator g(3);
      Tensor x = randn({n, 192}, g);
      INFO("group ", group, " rows ", n);
      QS_CHECK_CLOSE(matvec_4bit(x, p.packed, p.scale, p.zero, group),
                     matmul(x, reference_weight(p, group).t()), 1e-4);
    }
  }
}

TEST_CASE("packed 4-bit ops name mis-shaped codes, scales and inputs") {
  Packed4 p = random_packed(4, 16, 8, 4);
  CHECK(has(error_of([&] { dequantize_packed(p.packed, p.scale, p.zero, 4, 4, 16); }), "scale and zero must be f32 (4, 4)"));
  CHECK(has(error_of([&] { matvec_4bit(zeros({1, 16}), p.packed, p.scale, p.zero, 3); }), "even"));
  CHECK(has(error_of([&] { dequantize_packed(p.packed, p.scale, p.zero, 5, 8, 16); }), "bits must be 2, 3, 4 or 8"));
  CHECK(has(error_of([&] { dequantize_packed(p.packed, p.scale, p.zero, 3, 8, 16); }), "codes must be u8 (out, 6)"));
  CHECK(has(error_of([&] { matvec_4bit(zeros({2, 15}), p.packed, p.scale, p.zero, 8); }), "x must be f32 (n, 16)"));
  CHECK(has(error_of([&] { dequantize_packed(p.codes, p.scale, p.zero, 4, 8, 16); }), "must be u8"));
}
