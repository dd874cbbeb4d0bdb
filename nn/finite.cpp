#include "nn/finite.h"

#include <cmath>

#include "engine/error.h"
#include "engine/ops.h"

namespace qs::nn {

std::optional<std::string> first_non_finite(const std::map<std::string, engine::Tensor>& state) {
  for (const auto& [name, t] : state) {
    const engine::DType d = t.dtype();
    const bool floating = d == engine::DType::f32 || d == engine::DType::f64 || d == engine::DType::bf16 || d == engine::DType::f16;
    if (!floating || t.numel() == 0) continue;
    // x - x is 0 for every finite x and NaN otherwise; its sum cannot
    // overflow the way a sum of large finite values could.
    const engine::Tensor x = t.to(engine::DType::f32);
    if (!std::isfinite(engine::sum(x - x).item<double>())) return name;
  }
  return std::nullopt;
}

void check_finite(const std::map<std::string, engine::Tensor>& state, const std::string& where) {
  if (auto bad = first_non_finite(state)) fail("{}: non-finite values in '{}': training diverged (lower the learning rate?)", where, *bad);
}

}  // namespace qs::nn
