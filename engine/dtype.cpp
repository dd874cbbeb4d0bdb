#include "engine/dtype.h"

#include <cmath>
#include <cstring>

#include "engine/error.h"

namespace qs::engine {

std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::bf16: return 2;
    case DType::f16: return 2;
  }
  fail("dtype_size: unknown dtype {}", static_cast<int>(d));
}

std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
  }
  return "?";
}

bool is_floating(DType d) {
  return d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16;
}
bool is_integral(DType d) { return !is_floating(d); }

static uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
static float bits_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

bf16 to_bf16(float x) {
  uint32_t u = float_bits(x);
  if (std::isnan(x)) return bf16{static_cast<uint16_t>((u >> 16) | 0x40)};
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
  return bf16{static_cast<uint16_t>(u >> 16)};
}
float from_bf16(bf16 x) { return bits_float(static_cast<uint32_t>(x.bits) << 16); }

f16 to_f16(float x) {
  uint32_t u = float_bits(x);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t mag = u & 0x7fffffff;
  if (mag >= 0x7f800000) {  // inf or nan
    return f16{static_cast<uint16_t>(sign | 0x7c00 | (mag > 0x7f800000 ? 0x200 : 0))};
  }
  if (mag >= 0x477ff000) return f16{static_cast<uint16_t>(sign | 0x7c00)};  // overflow -> inf
  if (mag < 0x38800000) {  // subnormal half (or zero): scale and round in float
    float m = bits_float(mag) * 16777216.0f;  // 2^24: subnormal half units
    uint32_t r = static_cast<uint32_t>(std::nearbyint(m));
    return f16{static_cast<uint16_t>(sign | r)};
  }
  uint32_t e = ((mag >> 23) - 112) << 10;
  uint32_t m = mag & 0x7fffff;
  uint32_t h = e | (m >> 13);
  uint32_t rest = m & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // carries into exponent correctly
  return f16{static_cast<uint16_t>(sign | h)};
}

float from_f16(f16 x) {
  uint32_t sign = static_cast<uint32_t>(x.bits & 0x8000) << 16;
  uint32_t e = (x.bits >> 10) & 0x1f;
  uint32_t m = x.bits & 0x3ff;
  if (e == 0) {
    float v = static_cast<float>(m) / 16777216.0f;
    return sign ? -v : v;
  }
  if (e == 31) return bits_float(sign | 0x7f800000 | (m << 13));
  return bits_float(sign | ((e + 112) << 23) | (m << 13));
}

}  // namespace qs::engine
