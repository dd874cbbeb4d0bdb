// qslaw's LLM file to and from a Hugging Face LLaMA folder.
#include <filesystem>

#include "engine/io/json_file.h"
#include "engine/io/tensor_file.h"
#include "experiments/model_files.h"
#include "interop/hf_llama.h"
#include "support.h"

using namespace qs;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(QSLAW_SOURCE_DIR) / "tests/fixtures/hf_llama";

engine::Tensor logits_of(nn::Llama& model, const std::vector<int64_t>& ids) {
  autograd::NoGrad no_grad;
  return model.forward(engine::from_vector(ids, {1, static_cast<int64_t>(ids.size())})).logits.data().select(0, 0);
}

}  // namespace

TEST_CASE("model files: a Hugging Face LLaMA becomes qslaw's model.h5 and back, computing the reference logits") {
  const fs::path root = qs::test::temp_root("model_files");
  fs::create_directories(root);
  experiments::hf_llm_to_qslaw(kFixtures / "mha_f32", root / "model.h5");
  const engine::TensorFile f = engine::load_tensor_file(root / "model.h5");
  CHECK(f.attributes.at("kind") == "llama");
  CHECK(f.attributes.at("vocab_size") == "61");
  experiments::qslaw_llm_to_hf(root / "model.h5", root / "back", engine::DType::f32);
  const nlohmann::json ref = engine::read_json_file(kFixtures / "mha_f32" / "reference.json");
  const auto ids = ref["ids"].get<std::vector<int64_t>>();
  std::vector<double> flat;
  for (const auto& row : ref["logits"]) {
    for (const auto& v : row) flat.push_back(v.get<double>());
  }
  const engine::Tensor want = engine::from_vector(flat, {static_cast<int64_t>(ids.size()), 61});
  auto back = interop::load_hf_llama(root / "back");
  const engine::Tensor got = logits_of(*back.model, ids);
  CHECK(engine::equal(got, logits_of(*interop::load_hf_llama(kFixtures / "mha_f32").model, ids)));
  const double scale = engine::max(engine::abs(want)).item<double>();
  CHECK(engine::max_abs_diff(got.to(engine::DType::f64), want) < 2e-4 * scale);
  CHECK(back.info.bos_token_id == 0);  // qslaw's tokenizer numbers <s> 0, </s> 1, <pad> 2

  // What qslaw's model section cannot hold, and files that are not LLMs.
  std::string e = qs::test::error_of([&] { experiments::hf_llm_to_qslaw(kFixtures / "gqa_tied_f16", root / "gqa.h5"); });
  CHECK(qs::test::has(e, "grouped-query attention"));
  e = qs::test::error_of(
      [&] { experiments::hf_llm_to_qslaw(kFixtures / "linear_rope_bf16_sharded", root / "rope.h5"); });
  CHECK(qs::test::has(e, "RoPE scaling"));
  engine::TensorFile other;
  other.tensors["x"] = engine::zeros({2});
  engine::save_tensor_file(root / "other.h5", other);
  e = qs::test::error_of([&] { experiments::qslaw_llm_to_hf(root / "other.h5", root / "o", engine::DType::f32); });
  CHECK(qs::test::has(e, "not a qslaw LLM file"));
  fs::remove_all(root);
}
