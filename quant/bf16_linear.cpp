#include "quant/bf16_linear.h"

#include <cstring>

#include "autograd/functions.h"
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
  const int64_t in = in_features();
  autograd::Var y = dequant_linear(x, in, out_features(), [w, in](int64_t r0, int64_t r1, float* dst) {
    // bf16 is the top half of an f32: widening is a shift.
    const uint16_t* src = reinterpret_cast<const uint16_t*>(w.data<engine::bf16>()) + r0 * in;
    const int64_t n = (r1 - r0) * in;
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
      std::memcpy(dst + i, &bits, sizeof bits);
    }
  }, "bf16_linear");
  return bias_.defined() ? y + bias_ : y;
}

}  // namespace qs::quant
