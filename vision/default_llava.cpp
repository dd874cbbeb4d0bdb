#include "vision/default_llava.h"

#include <vector>

#include "engine/ops.h"

namespace qs::vision {

namespace e = engine;

LlavaSizes default_llava_sizes() {
  LlavaSizes s;  // the struct defaults are BENCHMARK.md's sizes
  s.projector.type = "mlp2x_gelu";
  s.projector.in = s.vit.width;
  s.projector.out = s.llm.dim;
  return s;
}

std::shared_ptr<nn::Llava> make_llava(const LlavaSizes& sizes) {
  return std::make_shared<nn::Llava>(std::make_shared<VisionTransformer>(sizes.vit), sizes.projector,
                                     std::make_shared<nn::Llama>(sizes.llm));
}

SyntheticBatch synthetic_batch(const LlavaSizes& sizes, int64_t batch, int64_t text_tokens,
                               uint64_t seed, e::Device device) {
  const int64_t image_tokens = sizes.vit.patches() + (sizes.vit.select_class_token ? 1 : 0);
  const int64_t t = image_tokens + text_tokens;
  e::Generator gen(seed);
  // Text ids above the special tokens (0-3), drawn from the shared RNG.
  std::vector<float> u = e::to_vector<float>(e::rand({batch, text_tokens}, gen));
  std::vector<int64_t> ids(batch * t), targets(batch * t, -100);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < t; ++i) {
      ids[b * t + i] = i < image_tokens
                           ? 3
                           : 4 + static_cast<int64_t>(u[b * text_tokens + i - image_tokens] *
                                                      static_cast<float>(sizes.llm.vocab_size - 4));
    }
    for (int64_t i = image_tokens; i + 1 < t; ++i) targets[b * t + i] = ids[b * t + i + 1];
  }
  SyntheticBatch out;
  out.ids = e::from_vector(ids, {batch, t});
  out.targets = e::from_vector(targets, {batch * t});
  out.images = e::randn({batch, 3, sizes.vit.image_size, sizes.vit.image_size}, gen, e::DType::f32,
                        0.0, 1.0, device);
  return out;
}

}  // namespace qs::vision
