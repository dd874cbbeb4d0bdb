#pragma once
// LoRA: y = base(x) + (alpha / r) * B A dropout(x), with A (r, in) random and
// B (out, r) zero, so training starts from the base model. Wraps any linear
// layer (Linear, QuantLinear, Nf4Linear); the base is frozen.
#include "nn/linear.h"

namespace qs::nn {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  uint64_t seed = 0;
};

class LoraLinear : public LinearLayer {
 public:
  LoraLinear(std::shared_ptr<LinearLayer> base, const LoraConfig& config);
  Var forward(const Var& x) override;
  int64_t in_features() const override { return base().in_features(); }
  int64_t out_features() const override { return base().out_features(); }
  // Base weight (dequantized if quantized) plus the adapter's (alpha / r) B A.
  Tensor effective_weight() const override;
  // A full-precision Linear with the adapter merged in, for export.
  std::shared_ptr<Linear> merged() const;
  LinearLayer& base() const { return child<LinearLayer>("base"); }

  Var lora_a, lora_b;  // (r, in), (out, r)
  double scaling;
};

}  // namespace qs::nn
