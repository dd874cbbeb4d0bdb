#include "quant/nf4_linear.h"

#include "autograd/functions.h"
#include "quant/dequant_linear.h"

namespace qs::quant {

Nf4Linear::Nf4Linear(const nn::Linear& source, int64_t block, bool double_quant)
    : weight_(nf4_quantize(source.weight.data(), block, double_quant)) {
  register_buffer("nf4_codes", weight_.packed);
  if (source.bias.defined()) bias_ = register_parameter("bias", source.bias.data().clone(), false);
}

autograd::Var Nf4Linear::forward(const autograd::Var& x) {
  QS_CHECK(x.size(-1) == weight_.in, "Nf4Linear: input {} does not end in in_features = {}",
           engine::describe(x.data()), weight_.in);
  if (device_weight_.defined()) {
    autograd::Var y = autograd::matmul(x, autograd::Var(device_weight_.t()));
    return bias_.defined() ? y + bias_ : y;
  }
  const Nf4Weight w = weight_;
  autograd::Var y = dequant_linear(x, w.in, w.out, [w](int64_t r0, const Tensor& tile) {
    nf4_dequantize_rows(w, r0, r0 + tile.size(0), tile.data<float>());
  }, "nf4_linear");
  return bias_.defined() ? y + bias_ : y;
}

void Nf4Linear::to(engine::Device device) {
  nn::Module::to(device);
  device_weight_ = device.is_cpu() ? Tensor() : nf4_dequantize(weight_).to(device);
}

}  // namespace qs::quant
