#pragma once
// A frozen NF4 linear layer (the QLoRA base): weights as NF4 codes with
// (double-quantized) block absmax, dequantized tile by tile in forward.
#include "nn/linear.h"
#include "quant/nf4.h"

namespace qs::quant {

class Nf4Linear : public nn::LinearLayer {
 public:
  Nf4Linear(const nn::Linear& source, int64_t block = 64, bool double_quant = true);
  autograd::Var forward(const autograd::Var& x) override;
  // On a GPU the layer holds its dequantized f32 weight there (the NF4 codes
  // stay on the CPU): correct, but without NF4's memory saving until NF4 gets
  // a CUDA dequantization kernel.
  using nn::Module::to;
  void to(engine::Device device) override;
  int64_t in_features() const override { return weight_.in; }
  int64_t out_features() const override { return weight_.out; }
  Tensor effective_weight() const override { return nf4_dequantize(weight_); }
  const Nf4Weight& weight() const { return weight_; }

 private:
  Nf4Weight weight_;
  autograd::Var bias_;
  Tensor device_weight_;  // (out, in) f32 on the GPU, when moved there
};

}  // namespace qs::quant
