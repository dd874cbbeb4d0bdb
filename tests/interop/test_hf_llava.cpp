// LLaVA checkpoints in both layouts against logits computed independently
// (scripts/fixtures/make_hf_llava.py: numpy, transformers' LLaVA semantics).
#include <filesystem>
#include <fstream>

#include "engine/io/json_file.h"
#include "interop/hf_llava.h"
#include "support.h"

using namespace qs;
using engine::Tensor;

namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = fs::path(QS_FIXTURES);

struct Reference {
  std::vector<int64_t> ids;
  Tensor pixels, logits;  // logits of the last 4 positions
};

Reference reference() {
  const nlohmann::json j = engine::read_json_file(kFixtures / "hf_llava" / "reference.json");
  Reference r;
  r.ids = j["ids"].get<std::vector<int64_t>>();
  r.pixels = engine::from_vector(j["pixels"].get<std::vector<double>>(), {1, 3, 16, 16}).to(engine::DType::f32);
  std::vector<double> flat;
  for (const auto& row : j["logits"]) {
    for (const auto& v : row) flat.push_back(v.get<double>());
  }
  r.logits = engine::from_vector(flat, {4, static_cast<int64_t>(flat.size() / 4)});
  return r;
}

Tensor last_logits(nn::Llava& model, const std::vector<int64_t>& ids, const Tensor& pixels) {
  autograd::NoGrad no_grad;
  const int64_t t = static_cast<int64_t>(ids.size());
  Tensor logits = model.forward(engine::from_vector(ids, {1, t}), pixels).logits.data().select(0, 0);
  return logits.slice(0, t - 4, t).to(engine::DType::f64);
}

}  // namespace

TEST_CASE("hf llava: a llava-hf checkpoint gives the reference logits with the image spliced in") {
  interop::LoadedLlava m = interop::load_llava(kFixtures / "hf_llava");
  const Reference ref = reference();
  CHECK(m.model->image_token_id == 60);
  CHECK(m.model->vision().tokens() == 16);  // "default": the class token dropped
  QS_CHECK_CLOSE(last_logits(*m.model, ref.ids, ref.pixels), ref.logits, 1e-4);
  // Without the image the logits differ: the image tokens are really replaced.
  std::vector<int64_t> no_image = ref.ids;
  for (auto& id : no_image) id = id == 60 ? 7 : id;
  autograd::NoGrad no_grad;
  const Tensor text_only = m.model->llm().forward(engine::from_vector(no_image, {1, 22})).logits.data();
  CHECK(!engine::allclose(text_only.select(0, 0).slice(0, 18, 22).to(engine::DType::f64), ref.logits, 1e-2, 1e-2));
}

TEST_CASE("hf llava: the original repository's layout with a separate CLIP tower loads the same model") {
  // Rename the llava-hf fixture into the original layout.
  const fs::path root = qs::test::temp_root("llava_original");
  fs::create_directories(root);
  engine::SafetensorsCheckpoint hf(kFixtures / "hf_llava");
  std::map<std::string, Tensor> t;
  for (const std::string& n : hf.names()) {
    std::string name = n;
    if (n.rfind("language_model.", 0) == 0) name = n.substr(15);
    else if (n.rfind("multi_modal_projector.linear_1.", 0) == 0) name = "model.mm_projector.0." + n.substr(31);
    else if (n.rfind("multi_modal_projector.linear_2.", 0) == 0) name = "model.mm_projector.2." + n.substr(31);
    else continue;  // the vision tower lives in its own checkpoint
    t[name] = hf.load(n);
  }
  engine::save_safetensors(root / "model.safetensors", t);
  nlohmann::json config = engine::read_json_file(kFixtures / "hf_llava" / "config.json")["text_config"];
  config["architectures"] = {"LlavaLlamaForCausalLM"};
  config["mm_projector_type"] = "mlp2x_gelu";
  config["mm_vision_select_layer"] = -2;
  config["mm_vision_select_feature"] = "patch";
  config["mm_hidden_size"] = 32;
  config["mm_vision_tower"] = "openai/clip-vit-large-patch14-336";
  std::ofstream(root / "config.json") << config.dump(2);
  interop::LoadedLlava m = interop::load_llava(root, kFixtures / "hf_clip");
  const Reference ref = reference();
  std::vector<int64_t> ids = ref.ids;
  for (auto& id : ids) id = id == 60 ? 0 : id;  // the image marked by <unk> tokens
  QS_CHECK_CLOSE(last_logits(*m.model, ids, ref.pixels), ref.logits, 1e-4);
  CHECK(qs::test::has(qs::test::error_of([&] { interop::load_llava(root); }), "not a llava-hf config"));
  config["mm_hidden_size"] = 64;
  std::ofstream(root / "config.json", std::ios::trunc) << config.dump(2);
  CHECK(qs::test::has(qs::test::error_of([&] { interop::load_llava(root, kFixtures / "hf_clip"); }),
                      "'mm_hidden_size' is 64 but the vision tower"));
  fs::remove_all(root);
}
