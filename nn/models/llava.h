#pragma once
// The LLaVA composition: a vision encoder (frozen; its layer -2 patch
// features) -> a projector -> embeddings written into the LLM's input at the
// positions of the <image> tokens. The encoder is any VisionEncoder module,
// so nn does not depend on vision/.
#include <memory>
#include <string>

#include "nn/linear.h"
#include "nn/models/llama.h"

namespace qs::nn {

class VisionEncoder : public Module {
 public:
  // images: f32 (B, 3, H, W), normalised -> (B, tokens(), feature_dim())
  virtual Var features(const Var& images) = 0;
  virtual int64_t feature_dim() const = 0;
  virtual int64_t tokens() const = 0;
};

struct ProjectorConfig {
  std::string type = "mlp2x_gelu";  // or "linear"
  int64_t in = 128, out = 256;
  double init_std = 0.02;
  uint64_t seed = 0;
};

class Projector : public Module {
 public:
  explicit Projector(const ProjectorConfig& config);
  Var forward(const Var& x);  // (..., in) -> (..., out)
  const ProjectorConfig& config() const { return config_; }

 private:
  ProjectorConfig config_;
};

// Replaces the rows of token_embeds (B, T, D) at the positions where ids ==
// image_id with the rows of image_embeds (Bi, N, D): the k-th sample that has
// image tokens takes image k, and must hold exactly N of them. Differentiable
// in both inputs (a gather from their concatenation).
Var splice_image_embeds(const Var& token_embeds, const Tensor& ids, int64_t image_id, const Var& image_embeds);

class Llava : public Module {
 public:
  Llava(std::shared_ptr<VisionEncoder> vision, const ProjectorConfig& projector, std::shared_ptr<Llama> llm);

  // Projected image features (B, N, D). The encoder runs without a graph
  // when none of its parameters are trainable.
  Var image_embeds(const Tensor& images);
  // Token embeddings with the images spliced in; images may be undefined
  // when no sample holds <image> tokens. `image_of_sample` (may be empty:
  // image k for the k-th sample holding image tokens) names, for each sample
  // holding image tokens, the row of `images` it shows, so that samples
  // sharing an image (the choices of one question) run the encoder once.
  Var input_embeds(const Tensor& ids, const Tensor& images, const std::vector<int64_t>& image_of_sample = {});
  LlmOutput forward(const Tensor& ids, const Tensor& images, const LlmForward& options = {},
                    const std::vector<int64_t>& image_of_sample = {});
  // Greedy or sampled continuation of one prompt (1, T) with at most one image.
  std::vector<int64_t> generate(const std::vector<int64_t>& prompt, const Tensor& image, const GenerateOptions& options);
  // Continuations of several prompts at once (left-padded), each with at
  // most one image: images (N, 3, H, W) and image_of_sample as for forward.
  std::vector<std::vector<int64_t>> generate_batch(const std::vector<std::vector<int64_t>>& prompts, const Tensor& images,
                                                   const std::vector<int64_t>& image_of_sample,
                                                   const GenerateOptions& options);
  // log p(targets) of each row, summed over the positions whose target is not
  // ignore_index: f64 (B) on the CPU. targets (B, T) holds the label of the
  // next position, as for the training loss (scoring multiple choice by the
  // likelihood of each complete answer).
  Tensor sequence_log_likelihood(const Tensor& ids, const Tensor& images, const Tensor& targets,
                                 int64_t ignore_index = -100, const std::vector<int64_t>& image_of_sample = {});

  VisionEncoder& vision() const { return child<VisionEncoder>("vision"); }
  Projector& projector() const { return child<Projector>("projector"); }
  Llama& llm() const { return child<Llama>("llm"); }
  std::shared_ptr<Llama> llm_ptr() const { return llm_; }

  int64_t image_token_id = 3;  // the tokenizer's <image> id (data::Tokenizer::kImage)

 private:
  std::shared_ptr<Llama> llm_;
};

}  // namespace qs::nn
