#pragma once
// The default multimodal model of BENCHMARK.md (ViT 64px/8, width 128, 4
// layers -> mlp2x_gelu projector -> LLaMA-style LLM, dim 256, 8 layers) and a
// synthetic training batch of its shape: what the training-step benchmarks and
// the CPU-vs-GPU model test run, independent of any pipeline stage.
#include <memory>

#include "nn/models/llava.h"
#include "vision/vit.h"

namespace qs::vision {

struct LlavaSizes {
  VitConfig vit;
  nn::ProjectorConfig projector;
  nn::LlamaConfig llm;
};
LlavaSizes default_llava_sizes();
std::shared_ptr<nn::Llava> make_llava(const LlavaSizes& sizes);

// `batch` samples of `image_tokens` <image> ids followed by `text_tokens`
// random text ids; targets are the next text token (-100 on image positions).
struct SyntheticBatch {
  engine::Tensor ids;      // (B, T) i64
  engine::Tensor targets;  // (B * T) i64
  engine::Tensor images;   // (B, 3, H, W) f32
};
SyntheticBatch synthetic_batch(const LlavaSizes& sizes, int64_t batch, int64_t text_tokens,
                               uint64_t seed, engine::Device device = engine::Device::cpu());

}  // namespace qs::vision
