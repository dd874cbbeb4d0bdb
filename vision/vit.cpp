#include "vision/vit.h"

#include <algorithm>

#include "autograd/functions.h"
#include "engine/ops.h"

namespace qs::vision {

namespace ag = qs::autograd;
namespace e = qs::engine;

nn::BlockConfig clip_block(int64_t width, int64_t heads, bool causal, int64_t mlp_ratio, bool quick_gelu) {
  nn::BlockConfig block;
  block.attn = nn::AttentionConfig{.dim = width, .n_heads = heads, .causal = causal, .rope = false, .bias = true};
  block.hidden = width * mlp_ratio;
  block.norm = nn::NormKind::layer;
  block.mlp = nn::MlpKind::gelu;
  block.norm_eps = 1e-5;
  block.mlp_bias = true;
  block.gelu = quick_gelu ? nn::GeluKind::quick : nn::GeluKind::erf;
  return block;
}

Var patchify(const Var& images, int64_t p) {
  QS_CHECK(images.dim() == 4 && p > 0 && images.size(2) % p == 0 && images.size(3) % p == 0,
           "patchify: images must be (B, C, H, W) with H, W multiples of {}, got {}", p,
           e::describe(images.data()));
  const int64_t b = images.size(0), c = images.size(1), gh = images.size(2) / p, gw = images.size(3) / p;
  Var x = ag::reshape(images, {b, c, gh, p, gw, p});
  x = ag::permute(x, {0, 2, 4, 1, 3, 5});  // (B, gh, gw, C, p, p)
  return ag::reshape(x, {b, gh * gw, c * p * p});
}

VisionTransformer::VisionTransformer(const VitConfig& c) : config_(c) {
  QS_CHECK(c.image_size % c.patch_size == 0, "ViT: image_size {} is not a multiple of patch_size {}", c.image_size,
           c.patch_size);
  QS_CHECK(c.layers >= 1 && c.select_layer >= -c.layers - 1 && c.select_layer <= c.layers,
           "ViT: select_layer {} out of range for {} layers", c.select_layer, c.layers);
  e::Generator gen(c.seed);
  nn::InitConfig init{.std = c.init_std, .scaled_residual = true, .n_layers = c.layers, .seed = c.seed};
  register_module("patch_embed", std::make_shared<nn::Linear>(3 * c.patch_size * c.patch_size, c.width, false, gen, c.init_std));
  register_parameter("class_embedding", e::randn({c.width}, gen, e::DType::f32, 0.0, c.init_std));
  register_parameter("position_embedding", e::randn({c.patches() + 1, c.width}, gen, e::DType::f32, 0.0, c.init_std));
  register_module("pre_norm", std::make_shared<nn::LayerNorm>(c.width));
  auto layers = register_module("layers", std::make_shared<nn::ModuleList>());
  const nn::BlockConfig block = clip_block(c.width, c.heads, /*causal=*/false, c.mlp_ratio, c.quick_gelu);
  for (int64_t i = 0; i < c.layers; ++i) layers->append(std::make_shared<nn::TransformerBlock>(block, gen, init));
  register_module("post_norm", std::make_shared<nn::LayerNorm>(c.width));
}

std::vector<Var> VisionTransformer::hidden_states(const Var& images, int64_t last_block) {
  const VitConfig& c = config_;
  QS_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == c.image_size && images.size(3) == c.image_size,
           "ViT: images must be (B, 3, {}, {}), got {}", c.image_size, c.image_size, e::describe(images.data()));
  const int64_t b = images.size(0);
  Var x = child<nn::LinearLayer>("patch_embed").forward(patchify(images, c.patch_size));  // (B, N, W)
  Var cls = ag::expand(ag::reshape(parameter("class_embedding"), {1, 1, c.width}), {b, 1, c.width});
  x = ag::concat({cls, x}, 1) + parameter("position_embedding");
  x = child<nn::NormLayer>("pre_norm").forward(x);
  std::vector<Var> states{x};
  const Tensor positions = e::arange(0, static_cast<double>(c.patches() + 1));
  auto& layers = child<nn::ModuleList>("layers");
  const int64_t blocks = last_block >= 0 ? std::min(last_block + 1, layers.size()) : layers.size();
  for (int64_t i = 0; i < blocks; ++i) {
    x = layers.at<nn::TransformerBlock>(i).forward(x, positions);
    states.push_back(x);
  }
  return states;
}

Var VisionTransformer::features(const Var& images) {
  // states[i] is the output of block i - 1, so layer L needs blocks 0..L-1 only.
  const int64_t layer = config_.select_layer < 0 ? config_.layers + 1 + config_.select_layer : config_.select_layer;
  Var h = hidden_states(images, layer - 1).at(static_cast<std::size_t>(layer));
  return config_.select_class_token ? h : ag::slice(h, 1, 1, h.size(1));
}

Var VisionTransformer::pooled(const Var& images) {
  Var last = hidden_states(images).back();
  return child<nn::NormLayer>("post_norm").forward(ag::squeeze(ag::slice(last, 1, 0, 1), 1));
}

}  // namespace qs::vision
