#pragma once
#include "nn/init.h"
#include "nn/linear.h"

namespace qs::nn {

class FeedForward : public Module {
 public:
  virtual Var forward(const Var& x) = 0;  // (..., dim) -> (..., dim)
};

// The activation between fc1 and fc2: GELU (erf or its tanh approximation),
// or OpenAI CLIP's quick GELU, x sigmoid(1.702 x).
enum class GeluKind { erf, tanh, quick };

// fc2(gelu(fc1(x))), as in ViT/CLIP.
class GeluMlp : public FeedForward {
 public:
  GeluMlp(int64_t dim, int64_t hidden, bool bias, engine::Generator& gen, const InitConfig& init,
          GeluKind kind = GeluKind::erf);
  Var forward(const Var& x) override;

 private:
  GeluKind kind_;
};

// down_proj(silu(gate_proj(x)) * up_proj(x)), as in LLaMA.
class SwiGlu : public FeedForward {
 public:
  SwiGlu(int64_t dim, int64_t hidden, engine::Generator& gen, const InitConfig& init);
  Var forward(const Var& x) override;
};

// LLaMA's hidden size: 2/3 of 4 * dim, rounded up to a multiple of `multiple`.
int64_t llama_hidden_size(int64_t dim, int64_t multiple = 256);

}  // namespace qs::nn
