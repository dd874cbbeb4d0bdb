#pragma once
// The CLIP-style vision encoder: patch embedding (a strided convolution
// without bias, done as patchify + matmul), learned class token and position
// embeddings, a LayerNorm before the blocks, pre-LN blocks with bidirectional
// attention and GELU MLPs, and a final LayerNorm on the pooled class token.
#include <vector>

#include "engine/rng.h"
#include "nn/models/llava.h"
#include "nn/transformer_block.h"

namespace qs::vision {

using autograd::Var;
using engine::Tensor;

struct VitConfig {
  int64_t image_size = 64;
  int64_t patch_size = 8;
  int64_t width = 128;
  int64_t layers = 4;
  int64_t heads = 4;
  int64_t mlp_ratio = 4;
  bool quick_gelu = false;  // OpenAI CLIP's activation (x sigmoid(1.702 x)) instead of GELU
  double init_std = 0.02;
  uint64_t seed = 0;
  int64_t select_layer = -2;  // LLaVA: the penultimate layer
  bool select_class_token = false;  // features: patch tokens only (LLaVA's "patch")

  int64_t patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

// A CLIP transformer block: LayerNorm, biased projections, GELU MLP of 4x
// width, no RoPE (positions are learned embeddings).
nn::BlockConfig clip_block(int64_t width, int64_t heads, bool causal, int64_t mlp_ratio = 4, bool quick_gelu = false);

// images (B, C, H, W) -> (B, N, C p p), patches in row-major order.
Var patchify(const Var& images, int64_t patch);

class VisionTransformer : public nn::VisionEncoder {
 public:
  explicit VisionTransformer(const VitConfig& config);
  // [0] the embeddings after the pre-norm, [i] the output of block i.
  // images: f32 (B, 3, H, W); blocks after `last_block` (if >= 0) are skipped.
  std::vector<Var> hidden_states(const Var& images, int64_t last_block = -1);
  // Hidden states of select_layer: (B, N, width), or (B, N + 1, width) with the class token.
  Var features(const Var& images) override;
  int64_t feature_dim() const override { return config_.width; }
  int64_t tokens() const override { return config_.patches() + (config_.select_class_token ? 1 : 0); }
  // post_norm(class token of the last layer): (B, width), what CLIP projects.
  Var pooled(const Var& images);
  const VitConfig& config() const { return config_; }

 private:
  VitConfig config_;
};

}  // namespace qs::vision
