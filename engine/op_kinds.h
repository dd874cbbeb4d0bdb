#pragma once
// The op selectors shared by engine/ops.h and both backends' kernels. Plain
// C++17 with no dependencies, so CUDA sources can include it.
#include <cstdint>

namespace qs::engine {

enum class UnaryOp : uint8_t {
  neg, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, abs, sign, round,
  gelu_tanh, gelu_erf, silu,
  // derivatives d/dx, used by backward passes
  gelu_tanh_grad, gelu_erf_grad, silu_grad,
};
enum class BinaryOp : uint8_t { add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge };
enum class ReduceOp : uint8_t { sum, mean, max, min, var };

}  // namespace qs::engine
