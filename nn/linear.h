#pragma once
#include "engine/rng.h"
#include "nn/module.h"

namespace qs::nn {

// Anything that maps (..., in) -> (..., out) as a linear layer does: Linear
// here, and the quantized layers quant/ swaps in for it.
class LinearLayer : public Module {
 public:
  virtual Var forward(const Var& x) = 0;  // x: (..., in) -> (..., out)
  virtual int64_t in_features() const = 0;
  virtual int64_t out_features() const = 0;
  // The (out, in) weight the layer computes with, as a full-precision tensor
  // (dequantized for quantized layers): for merging adapters and for export.
  virtual Tensor effective_weight() const = 0;
};

class Linear : public LinearLayer {
 public:
  // weight: (out, in) ~ normal(0, std); bias zero-initialised when present.
  Linear(int64_t in, int64_t out, bool bias, engine::Generator& gen, double std);
  Var forward(const Var& x) override;
  int64_t in_features() const override { return weight.size(1); }
  int64_t out_features() const override { return weight.size(0); }
  Tensor effective_weight() const override { return weight.data(); }

  Var weight;  // (out, in)
  Var bias;    // (out) or undefined
};

class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, engine::Generator& gen, double std);
  Var forward(const Tensor& ids);  // ids: (...) integer -> (..., dim)
  Var weight;                      // (num, dim)
};

class NormLayer : public Module {
 public:
  virtual Var forward(const Var& x) = 0;  // over the last dim
};

class RMSNorm : public NormLayer {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6);
  Var forward(const Var& x) override;
  Var weight;
  double eps;
};

class LayerNorm : public NormLayer {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5);
  Var forward(const Var& x) override;
  Var weight, bias;
  double eps;
};

// Inverted dropout; the identity in eval mode or with p = 0. Masks come from
// the layer's own counter-based generator, so runs are reproducible.
class Dropout : public Module {
 public:
  Dropout(double p, uint64_t seed);
  Var forward(const Var& x);
  // matmul(forward(x), w) with the same numbers and mask, through
  // autograd::dropout_matmul: the graph keeps x and the mask, not the
  // dropped copy.
  Var forward_matmul(const Var& x, const Var& w);
  double p;

 private:
  engine::Generator gen_;
};

}  // namespace qs::nn
