#include "nn/lora.h"

#include <cmath>

#include "autograd/functions.h"
#include "engine/ops.h"

namespace qs::nn {

namespace ag = qs::autograd;
namespace e = qs::engine;

LoraLinear::LoraLinear(std::shared_ptr<LinearLayer> base, const LoraConfig& c) {
  QS_CHECK(c.rank > 0, "LoRA: rank must be positive, got {}", c.rank);
  const int64_t in = base->in_features(), out = base->out_features();
  base->set_requires_grad(false);
  register_module("base", base);
  e::Generator gen(c.seed);
  // Kaiming-uniform bound for A (as PEFT), zeros for B.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  lora_a = register_parameter("lora_a", e::rand({c.rank, in}, gen, DType::f32, -bound, bound));
  lora_b = register_parameter("lora_b", e::zeros({out, c.rank}));
  register_module("dropout", std::make_shared<Dropout>(c.dropout, c.seed + 1));
  scaling = c.alpha / static_cast<double>(c.rank);
}

Var LoraLinear::forward(const Var& x) {
  // The frozen base keeps x for its backward; the dropped copy is not kept.
  Var down = child<Dropout>("dropout").forward_matmul(x, ag::transpose(lora_a, 0, 1));
  Var update = ag::matmul(down, ag::transpose(lora_b, 0, 1));
  return base().forward(x) + update * scaling;
}

Tensor LoraLinear::effective_weight() const {
  return e::add(base().effective_weight(), e::matmul(lora_b.data(), lora_a.data()) * scaling);
}

std::shared_ptr<Linear> LoraLinear::merged() const {
  Var bias;
  for (auto& [name, p] : base().named_parameters()) {
    if (name == "bias") bias = p;
  }
  e::Generator unused(0);
  auto lin = std::make_shared<Linear>(in_features(), out_features(), bias.defined(), unused, 0.0);
  lin->weight.set_data(effective_weight().contiguous());
  if (bias.defined()) lin->bias.set_data(bias.data().clone());
  return lin;
}

}  // namespace qs::nn
