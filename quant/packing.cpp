#include "quant/packing.h"

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/packed_codes.h"

namespace qs::quant {

namespace e = qs::engine;
namespace pk = qs::engine::packing;

namespace {
void check_bits(const char* op, int bits) {
  QS_CHECK(pk::valid_bits(bits), "{}: bits must be 2, 3, 4 or 8, got {}", op, bits);
}
}  // namespace

e::Tensor pack_codes(const e::Tensor& codes, int bits) {
  check_bits("pack_codes", bits);
  QS_CHECK(codes.dim() == 2 && codes.dtype() == e::DType::u8, "pack_codes: codes must be u8 (out, in), got {}",
           e::describe(codes));
  const int64_t out = codes.size(0), in = codes.size(1), rb = pk::row_bytes(in, bits);
  e::Tensor c = codes.to(e::Device::cpu()).contiguous();
  e::Tensor packed = e::zeros({out, rb}, e::DType::u8);
  const uint8_t* cp = c.data<uint8_t>();
  uint8_t* pp = packed.data<uint8_t>();
  const uint32_t max_code = (1u << bits) - 1;
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t j = 0; j < in; ++j) {
      const uint32_t v = cp[r * in + j];
      QS_CHECK(v <= max_code, "pack_codes: code {} at ({}, {}) does not fit in {} bits", v, r, j, bits);
      pk::write_code(pp + r * rb, j, bits, v);
    }
  }
  return packed.to(codes.device());
}

e::Tensor unpack_codes(const e::Tensor& packed, int bits, int64_t in) {
  check_bits("unpack_codes", bits);
  const int64_t rb = pk::row_bytes(in, bits);
  QS_CHECK(packed.dim() == 2 && packed.dtype() == e::DType::u8 && packed.size(1) == rb,
           "unpack_codes: expected u8 (out, {}) for {} codes of {} bits, got {}", rb, in, bits, e::describe(packed));
  const int64_t out = packed.size(0);
  e::Tensor p = packed.to(e::Device::cpu()).contiguous();
  e::Tensor codes({out, in}, e::DType::u8);
  const uint8_t* pp = p.data<uint8_t>();
  uint8_t* cp = codes.data<uint8_t>();
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t j = 0; j < in; ++j) cp[r * in + j] = static_cast<uint8_t>(pk::read_code(pp + r * rb, j, bits, rb));
  }
  return codes.to(packed.device());
}

}  // namespace qs::quant
