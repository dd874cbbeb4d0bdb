#pragma once
#include "nn/attention.h"
#include "nn/mlp.h"

namespace qs::nn {

enum class NormKind { rms, layer };
enum class MlpKind { swiglu, gelu };

struct BlockConfig {
  AttentionConfig attn;
  int64_t hidden = 768;
  NormKind norm = NormKind::rms;
  MlpKind mlp = MlpKind::swiglu;
  double norm_eps = 1e-6;
  bool mlp_bias = false;
  GeluKind gelu = GeluKind::erf;  // the activation of a gelu MLP
};

// Pre-norm block: x + attn(attn_norm(x)), then x + mlp(mlp_norm(x)).
class TransformerBlock : public Module {
 public:
  TransformerBlock(const BlockConfig& config, engine::Generator& gen, const InitConfig& init);
  // x: (B, T, D). With `checkpointing` on (and no cache) the block keeps only
  // its input and recomputes itself during backward.
  Var forward(const Var& x, const Tensor& positions, KVCache* cache = nullptr,
              const Tensor& key_padding = Tensor());
  bool checkpointing = false;

 private:
  Var body(const Var& x, const Tensor& positions, KVCache* cache, const Tensor& key_padding);
};

// Children named "0", "1", ... so paths read layers.3.attn.q_proj.weight.
class ModuleList : public Module {
 public:
  void append(std::shared_ptr<Module> module);
  int64_t size() const { return static_cast<int64_t>(children().size()); }
  template <class T>
  T& at(int64_t i) const {
    return child<T>(std::to_string(i));
  }
};

}  // namespace qs::nn
