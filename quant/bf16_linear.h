#pragma once
// A frozen linear layer stored in bfloat16: half the bytes of f32, no
// quantization grid. The CPU has no bf16 product, so W is widened to f32 a
// tile of rows at a time (dequant_linear), as the quantized layers do - the
// "FP LoRA with 16-bit weights" baseline that tuning memory is compared
// against (LLaVA tunes its LoRA runs over bf16 weights).
#include "nn/linear.h"

namespace qs::quant {

using engine::Tensor;

class Bf16Linear : public nn::LinearLayer {
 public:
  explicit Bf16Linear(const nn::Linear& source);
  autograd::Var forward(const autograd::Var& x) override;
  int64_t in_features() const override { return weight_.size(1); }
  int64_t out_features() const override { return weight_.size(0); }
  Tensor effective_weight() const override { return weight_.to(engine::DType::f32); }
  int64_t weight_bytes() const { return static_cast<int64_t>(weight_.nbytes()); }

 private:
  Tensor weight_;  // (out, in) bf16, contiguous
  autograd::Var bias_;
};

}  // namespace qs::quant
