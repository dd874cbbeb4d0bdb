#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace qs::engine {

// bf16/f16 are storage types: CPU kernels compute in f32/f64 and only convert
// to and from them; the CUDA backend computes in them with f32 accumulation.
enum class DType : uint8_t { f32, f64, i32, i64, u8, bf16, f16 };

std::size_t dtype_size(DType d);
std::string_view dtype_name(DType d);
bool is_floating(DType d);  // f32, f64, bf16, f16
bool is_integral(DType d);  // i32, i64, u8

struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};

template <class T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<bf16>() { return DType::bf16; }
template <> constexpr DType dtype_of<f16>() { return DType::f16; }

// Round-to-nearest-even conversions (NaN stays NaN).
bf16 to_bf16(float x);
float from_bf16(bf16 x);
f16 to_f16(float x);
float from_f16(f16 x);

}  // namespace qs::engine
