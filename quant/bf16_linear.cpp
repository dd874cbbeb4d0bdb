#include "quant/bf16_linear.h"

#include "autograd/functions.h"
#include "engine/ops.h"
#include "quant/dequant_linear.h"

namespace qs::quant {

Bf16Linear::Bf16Linear(const nn::Linear& source)
    : weight_(source.weight.data().to(engine::DType::bf16).contiguous()) {
  QS_CHECK(weight_.device().is_cpu(), "Bf16Linear: the layer must be on the CPU, got {}", engine::describe(weight_));
  register_buffer("weight_bf16", weight_);
  if (source.bias.defined()) bias_ = register_parameter("bias", source.bias.data().clone(), false);
}

autograd::Var Bf16Linear::forward(const autograd::Var& x) {
  QS_CHECK(x.size(-1) == in_features(), "Bf16Linear: input {} does not end in in_features = {}",
           engine::describe(x.data()), in_features());
  const Tensor w = weight_;
  autograd::Var y = dequant_linear(x, in_features(), out_features(), [w](int64_t r0, const Tensor& tile) {
    engine::copy_(tile, w.slice(0, r0, r0 + tile.size(0)));  // widening bf16 -> f32
  }, "bf16_linear");
  return bias_.defined() ? y + bias_ : y;
}

}  // namespace qs::quant
