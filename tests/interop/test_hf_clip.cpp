// A Hugging Face CLIP vision tower against features computed independently
// (scripts/fixtures/make_hf_clip.py: numpy, transformers' CLIPVisionModel
// semantics, float64) from the same weights.
#include <filesystem>

#include "engine/io/json_file.h"
#include "interop/hf_clip.h"
#include "support.h"

using namespace qs;
using engine::Tensor;

namespace {
const std::filesystem::path kFixture = std::filesystem::path(QS_FIXTURES) / "hf_clip";
}

TEST_CASE("hf clip: the vision tower's penultimate features and pooled output match the reference") {
  auto vit = interop::load_hf_clip_vision(kFixture, -2, /*select_class_token=*/true);
  CHECK(vit->config().quick_gelu);
  CHECK(vit->config().mlp_ratio == 4);
  const nlohmann::json ref = engine::read_json_file(kFixture / "reference.json");
  const Tensor pixels = engine::from_vector(ref["pixels"].get<std::vector<double>>(), {1, 3, 16, 16}).to(engine::DType::f32);
  std::vector<double> flat;
  for (const auto& row : ref["penultimate"]) {
    for (const auto& v : row) flat.push_back(v.get<double>());
  }
  const Tensor penultimate = engine::from_vector(flat, {1, 17, 32});
  autograd::NoGrad no_grad;
  QS_CHECK_CLOSE(vit->features(autograd::Var(pixels)).data(), penultimate, 1e-4);
  QS_CHECK_CLOSE(vit->pooled(autograd::Var(pixels)).data(),
                 engine::from_vector(ref["pooled"].get<std::vector<double>>(), {1, 32}), 1e-4);
  // LLaVA's "default" strategy drops the class token: the 16 patch rows.
  auto patches_only = interop::load_hf_clip_vision(kFixture, -2, false);
  QS_CHECK_CLOSE(patches_only->features(autograd::Var(pixels)).data(), penultimate.slice(1, 1, 17), 1e-4);
}

TEST_CASE("hf clip: configs the tower cannot compute are refused by key") {
  const nlohmann::json base = engine::read_json_file(kFixture / "config.json");
  auto error_for = [&](const nlohmann::json& patch) {
    nlohmann::json c = base;
    c.merge_patch(patch);
    return test::error_of([&] { interop::read_hf_clip_vision_config(engine::JsonObject(c, "config.json")); });
  };
  CHECK(test::has(error_for({{"hidden_act", "relu"}}), "'hidden_act' is 'relu'"));
  CHECK(test::has(error_for({{"patch_size", 5}}), "image_size 16 is not a multiple of patch_size 5"));
  CHECK(test::has(error_for({{"intermediate_size", 100}}), "intermediate_size 100 must be a multiple"));
  CHECK(test::has(error_for({{"num_attention_heads", 0}}), "'num_attention_heads' must be positive"));
}
