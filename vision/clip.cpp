#include "vision/clip.h"

#include <cmath>

#include "autograd/functions.h"
#include "engine/ops.h"

namespace qs::vision {

namespace ag = qs::autograd;
namespace e = qs::engine;

ClipTextTower::ClipTextTower(const ClipTextConfig& c) : config_(c) {
  e::Generator gen(c.seed);
  nn::InitConfig init{.std = c.init_std, .scaled_residual = true, .n_layers = c.layers, .seed = c.seed};
  register_module("token_embedding", std::make_shared<nn::Embedding>(c.vocab_size, c.width, gen, c.init_std));
  register_parameter("position_embedding", e::randn({c.max_len, c.width}, gen, e::DType::f32, 0.0, c.init_std));
  auto layers = register_module("layers", std::make_shared<nn::ModuleList>());
  const nn::BlockConfig block = clip_block(c.width, c.heads, /*causal=*/true);
  for (int64_t i = 0; i < c.layers; ++i) layers->append(std::make_shared<nn::TransformerBlock>(block, gen, init));
  register_module("final_norm", std::make_shared<nn::LayerNorm>(c.width));
}

Var ClipTextTower::forward(const Tensor& ids, const Tensor& last_positions) {
  QS_CHECK(ids.dim() == 2 && ids.size(1) <= config_.max_len, "CLIP text: ids must be (B, T <= {}), got {}",
           config_.max_len, e::describe(ids));
  QS_CHECK(last_positions.dim() == 1 && last_positions.size(0) == ids.size(0),
           "CLIP text: last_positions must be (B) = ({}), got {}", ids.size(0), e::describe(last_positions));
  const int64_t b = ids.size(0), t = ids.size(1);
  Var x = child<nn::Embedding>("token_embedding").forward(ids) + ag::slice(parameter("position_embedding"), 0, 0, t);
  const Tensor positions = e::arange(0, static_cast<double>(t));
  auto& layers = child<nn::ModuleList>("layers");
  for (int64_t i = 0; i < layers.size(); ++i) x = layers.at<nn::TransformerBlock>(i).forward(x, positions);
  x = child<nn::NormLayer>("final_norm").forward(x);
  // Row i takes position last[i]: flat index i * T + last[i].
  std::vector<int64_t> rows;
  std::vector<int64_t> last = e::to_vector<int64_t>(last_positions);
  for (int64_t i = 0; i < b; ++i) {
    QS_CHECK(last[i] >= 0 && last[i] < t, "CLIP text: last position {} of row {} is outside [0, {})", last[i], i, t);
    rows.push_back(i * t + last[i]);
  }
  return ag::index_select(ag::reshape(x, {b * t, config_.width}), 0, e::from_vector(rows));
}

Var l2_normalize(const Var& x) { return x * ag::rsqrt(ag::sum(x * x, -1, true) + 1e-12); }

Var clip_loss(const Var& image_embeds, const Var& text_embeds, const Var& logit_scale) {
  QS_CHECK(image_embeds.dim() == 2 && text_embeds.dim() == 2 && image_embeds.size(1) == text_embeds.size(1) &&
               text_embeds.size(0) >= image_embeds.size(0),
           "clip_loss: image embeddings must be (B, D) and text embeddings (B + M, D), got {} and {}",
           e::describe(image_embeds.data()), e::describe(text_embeds.data()));
  const int64_t b = image_embeds.size(0);
  Var scale = ag::exp(ag::clamp(logit_scale, -INFINITY, std::log(100.0)));
  // (B, B + M): each image against every caption, the extra negatives included.
  Var logits = ag::matmul(l2_normalize(image_embeds), ag::transpose(l2_normalize(text_embeds), 0, 1)) * scale;
  Tensor targets = e::arange(0, static_cast<double>(b));
  // Captions -> images: only the B captions that have an image.
  Var per_caption = ag::transpose(ag::slice(logits, 1, 0, b), 0, 1);
  return (ag::cross_entropy(logits, targets) + ag::cross_entropy(per_caption, targets)) * 0.5;
}

ClipModel::ClipModel(const VitConfig& vision, const ClipTextConfig& text, int64_t embed_dim) {
  e::Generator gen(vision.seed + 7);
  register_module("vision", std::make_shared<VisionTransformer>(vision));
  register_module("text", std::make_shared<ClipTextTower>(text));
  register_module("visual_projection", std::make_shared<nn::Linear>(vision.width, embed_dim, false, gen, vision.init_std));
  register_module("text_projection", std::make_shared<nn::Linear>(text.width, embed_dim, false, gen, text.init_std));
  register_parameter("logit_scale", e::full({1}, std::log(1.0 / 0.07)));
}

Var ClipModel::image_embeds(const Var& images) {
  return child<nn::LinearLayer>("visual_projection").forward(vision().pooled(images));
}

Var ClipModel::text_embeds(const Tensor& ids, const Tensor& last_positions) {
  return child<nn::LinearLayer>("text_projection").forward(child<ClipTextTower>("text").forward(ids, last_positions));
}

Var ClipModel::loss(const Var& images, const Tensor& ids, const Tensor& last_positions) {
  return clip_loss(image_embeds(images), text_embeds(ids, last_positions), parameter("logit_scale"));
}

}  // namespace qs::vision
