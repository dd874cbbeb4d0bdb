#pragma once
// CLIP training pieces: a small causal text transformer over the BPE
// tokenizer, projections into a shared space, a learned temperature and the
// symmetric InfoNCE loss.
#include "vision/vit.h"

namespace qs::vision {

struct ClipTextConfig {
  int64_t vocab_size = 2048;
  int64_t width = 128;
  int64_t layers = 3;
  int64_t heads = 4;
  int64_t max_len = 48;
  double init_std = 0.02;
  uint64_t seed = 1;
};

class ClipTextTower : public nn::Module {
 public:
  explicit ClipTextTower(const ClipTextConfig& config);
  // ids: (B, T) i64; lengths: (B) i64, the position of each caption's last
  // token (</s>). Returns final_norm(hidden at that position): (B, width).
  Var forward(const Tensor& ids, const Tensor& last_positions);
  const ClipTextConfig& config() const { return config_; }

 private:
  ClipTextConfig config_;
};

// Mean of the two cross-entropies of logits = exp(logit_scale) * norm(img) norm(txt)^T
// (rows: images -> captions; columns: captions -> images), targets on the diagonal.
// logit_scale is clamped at log(100) as in CLIP. text_embeds may carry M rows
// after the B matched captions: hard negatives (NegCLIP, Yuksekgonul et al.
// 2023) that every image is scored against but that match no image.
Var clip_loss(const Var& image_embeds, const Var& text_embeds, const Var& logit_scale);
// Rows scaled to unit L2 norm.
Var l2_normalize(const Var& x);

class ClipModel : public nn::Module {
 public:
  ClipModel(const VitConfig& vision, const ClipTextConfig& text, int64_t embed_dim);
  Var image_embeds(const Var& images);  // (B, embed_dim), not normalized
  Var text_embeds(const Tensor& ids, const Tensor& last_positions);
  // ids: the B captions of the images, then any hard negatives (see clip_loss).
  Var loss(const Var& images, const Tensor& ids, const Tensor& last_positions);
  VisionTransformer& vision() const { return child<VisionTransformer>("vision"); }
};

}  // namespace qs::vision
