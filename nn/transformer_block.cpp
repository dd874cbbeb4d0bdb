#include "nn/transformer_block.h"

#include "autograd/checkpoint.h"
#include "autograd/functions.h"

namespace qs::nn {

namespace {
std::shared_ptr<NormLayer> make_norm(NormKind kind, int64_t dim, double eps) {
  if (kind == NormKind::rms) return std::make_shared<RMSNorm>(dim, eps);
  return std::make_shared<LayerNorm>(dim, eps);
}
}  // namespace

TransformerBlock::TransformerBlock(const BlockConfig& c, engine::Generator& gen,
                                   const InitConfig& init) {
  const int64_t d = c.attn.dim;
  register_module("attn_norm", make_norm(c.norm, d, c.norm_eps));
  register_module("attn", std::make_shared<Attention>(c.attn, gen, init));
  register_module("mlp_norm", make_norm(c.norm, d, c.norm_eps));
  if (c.mlp == MlpKind::swiglu) {
    register_module("mlp", std::make_shared<SwiGlu>(d, c.hidden, gen, init));
  } else {
    register_module("mlp", std::make_shared<GeluMlp>(d, c.hidden, c.mlp_bias, gen, init, c.gelu));
  }
}

Var TransformerBlock::body(const Var& x, const Tensor& positions, KVCache* cache,
                           const Tensor& key_padding) {
  Var h = x + child<Attention>("attn").forward(child<NormLayer>("attn_norm").forward(x), positions,
                                                cache, key_padding);
  return h + child<FeedForward>("mlp").forward(child<NormLayer>("mlp_norm").forward(h));
}

Var TransformerBlock::forward(const Var& x, const Tensor& positions, KVCache* cache,
                              const Tensor& key_padding) {
  if (!checkpointing || cache || !autograd::grad_enabled()) {
    return body(x, positions, cache, key_padding);
  }
  return autograd::checkpoint(
      [this, positions, key_padding](const std::vector<Var>& in) {
        return body(in[0], positions, nullptr, key_padding);
      },
      {x});
}

void ModuleList::append(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
}

}  // namespace qs::nn
