// Hugging Face LLaMA checkpoints against logits computed independently
// (scripts/fixtures/make_hf_llama.py: numpy, transformers' LlamaForCausalLM
// semantics, float64) from the same stored weights.
#include <filesystem>
#include <fstream>

#include "engine/io/safetensors.h"
#include "interop/hf_llama.h"
#include "support.h"

using namespace qs;
using engine::DType;
using engine::Tensor;
using qs::test::error_of;
using qs::test::has;

namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(QS_FIXTURES) / "hf_llama";

struct Reference {
  std::vector<int64_t> ids;
  Tensor logits;  // (T, vocab) f64
};

Reference reference(const fs::path& folder) {
  const nlohmann::json j = engine::read_json_file(folder / "reference.json");
  Reference r{j["ids"].get<std::vector<int64_t>>(), Tensor()};
  std::vector<double> flat;
  for (const auto& row : j["logits"]) {
    for (const auto& v : row) flat.push_back(v.get<double>());
  }
  r.logits = engine::from_vector(flat, {static_cast<int64_t>(r.ids.size()), static_cast<int64_t>(j["logits"][0].size())});
  return r;
}

Tensor logits_of(nn::Llama& model, const std::vector<int64_t>& ids) {
  autograd::NoGrad no_grad;
  Tensor x = engine::from_vector(ids, {1, static_cast<int64_t>(ids.size())});
  return model.forward(x).logits.data().select(0, 0).to(DType::f64);
}

// A copy of a fixture whose tensors `edit` may change before it is saved.
fs::path edited_copy(const fs::path& from, const std::string& name,
                     const std::function<void(std::map<std::string, Tensor>&)>& edit) {
  const fs::path to = qs::test::temp_root(name);
  fs::create_directories(to);
  fs::copy_file(from / "config.json", to / "config.json");
  engine::SafetensorsCheckpoint ck(from);
  std::map<std::string, Tensor> t;
  for (const std::string& n : ck.names()) t[n] = ck.load(n);
  edit(t);
  engine::save_safetensors(to / "model.safetensors", t);
  return to;
}

}  // namespace

TEST_CASE("hf llama: f16 grouped-query tied and bf16 sharded linear-RoPE checkpoints give the reference logits") {
  for (const char* name : {"gqa_tied_f16", "linear_rope_bf16_sharded"}) {
    CAPTURE(name);
    const fs::path folder = kFixtures / name;
    interop::LoadedLlama m = interop::load_hf_llama(folder);
    const Reference ref = reference(folder);
    const Tensor got = logits_of(*m.model, ref.ids);
    // f32 compute against f64 from the same weights; logits are O(1-10).
    QS_CHECK_CLOSE(got, ref.logits, 1e-4);
    CHECK(m.info.bos_token_id == 1);
    CHECK(m.info.eos_token_id == 2);
  }
  interop::LoadedLlama gqa = interop::load_hf_llama(kFixtures / "gqa_tied_f16");
  CHECK(gqa.info.tie_word_embeddings);
  CHECK(gqa.model->config().n_kv_heads == 2);
  CHECK(gqa.model->parameter("layers.0.attn.k_proj.weight").data().shape() == engine::Shape{16, 32});
  interop::LoadedLlama lin = interop::load_hf_llama(kFixtures / "linear_rope_bf16_sharded");
  CHECK(lin.model->config().rope_linear_factor == 2.0);
  CHECK(lin.info.pad_token_id == 0);
}

TEST_CASE("hf llama: the KV cache holds the key/value heads only, and cached decoding equals the full forward") {
  interop::LoadedLlama m = interop::load_hf_llama(kFixtures / "gqa_tied_f16");
  const std::vector<int64_t> prompt = {3, 14, 15, 9};
  nn::GenerateOptions greedy{.max_new_tokens = 6, .use_cache = true};
  const std::vector<int64_t> cached = m.model->generate(prompt, greedy);
  greedy.use_cache = false;
  CHECK(m.model->generate(prompt, greedy) == cached);
  std::vector<nn::KVCache> caches(2);
  autograd::NoGrad no_grad;
  nn::LlmForward cached_forward;
  cached_forward.caches = &caches;
  m.model->forward(engine::from_vector(prompt, {1, 4}), cached_forward);
  CHECK(caches[0].k.shape() == engine::Shape{1, 2, 4, 8});
}

TEST_CASE("hf llama: export and re-import give the same model, in f32 exactly and in bf16 to bf16 rounding") {
  interop::LoadedLlama m = interop::load_hf_llama(kFixtures / "linear_rope_bf16_sharded");
  const fs::path root = qs::test::temp_root("hf_llama_export");
  interop::save_hf_llama(*m.model, m.info, root / "f32", DType::f32, 20000);  // sharded
  CHECK(fs::exists(root / "f32" / "model.safetensors.index.json"));
  interop::LoadedLlama back = interop::load_hf_llama(root / "f32");
  CHECK(back.model->config().n_kv_heads == 4);
  CHECK(back.model->config().rope_linear_factor == 2.0);
  CHECK(back.info.pad_token_id == 0);
  for (const auto& [name, t] : m.model->state_dict()) {
    CAPTURE(name);
    CHECK(engine::equal(back.model->state_dict().at(name), t));
  }
  // The fixture's weights are bf16 values: a bf16 export loses nothing.
  interop::save_hf_llama(*m.model, m.info, root / "bf16", DType::bf16);
  CHECK(engine::SafetensorsCheckpoint(root / "bf16").entry("model.norm.weight").file_dtype == "BF16");
  const std::vector<int64_t> ids = {5, 6, 7};
  CHECK(engine::equal(logits_of(*interop::load_hf_llama(root / "bf16").model, ids), logits_of(*m.model, ids)));
  // A tied model is written tied: no lm_head, and the config says so.
  interop::LoadedLlama tied = interop::load_hf_llama(kFixtures / "gqa_tied_f16");
  interop::save_hf_llama(*tied.model, tied.info, root / "tied");
  CHECK(!engine::SafetensorsCheckpoint(root / "tied").contains("lm_head.weight"));
  CHECK(interop::load_hf_llama(root / "tied").info.tie_word_embeddings);
  fs::remove_all(root);
}

TEST_CASE("hf llama: missing, unexpected and mis-shaped tensors are listed together, and the model is untouched") {
  const fs::path bad = edited_copy(kFixtures / "gqa_tied_f16", "hf_llama_bad", [](auto& t) {
    t.erase("model.layers.1.mlp.up_proj.weight");
    t["model.layers.0.self_attn.k_proj.weight"] = engine::zeros({32, 32}).to(DType::f16);  // MHA-shaped
    t["model.layers.0.self_attn.q_norm.weight"] = engine::zeros({8});
    t["model.layers.0.self_attn.rotary_emb.inv_freq"] = engine::zeros({4});  // old exports: ignored
    t["vision_tower.x"] = engine::zeros({1});  // outside the decoder: not ours to judge
  });
  interop::HfLlama info = interop::read_hf_llama_config(engine::JsonObject::read(bad / "config.json"));
  nn::Llama model(info.config);
  const auto before = model.state_dict();
  const std::string err =
      error_of([&] { interop::load_hf_llama_weights(model, engine::SafetensorsCheckpoint(bad), info); });
  CHECK(has(err, bad.string()));
  CHECK(has(err, "missing: layers.1.mlp.up_proj.weight"));
  CHECK(has(err, "layers.0.attn.k_proj.weight (expected f32[16, 32], got f16[32, 32])"));
  CHECK(has(err, "unexpected: model.layers.0.self_attn.q_norm.weight"));
  CHECK(!has(err, "inv_freq"));
  CHECK(!has(err, "vision_tower"));
  for (const auto& [name, t] : model.state_dict()) CHECK(engine::equal(t, before.at(name)));
  fs::remove_all(bad);
}

TEST_CASE("hf llama: configs it cannot compute are refused with the file and the key named") {
  const fs::path root = qs::test::temp_root("hf_llama_configs");
  fs::create_directories(root);
  const nlohmann::json base = engine::read_json_file(kFixtures / "gqa_tied_f16" / "config.json");
  struct Case {
    const char* what;
    nlohmann::json patch;
    const char* message;
  };
  const Case cases[] = {
      {"rope type", {{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}}}, "RoPE scaling 'yarn' is not supported"},
      {"model type", {{"model_type", "gpt2"}}, "'model_type' is 'gpt2'"},
      {"activation", {{"hidden_act", "gelu"}}, "'hidden_act' is 'gelu'"},
      {"bias", {{"attention_bias", true}}, "'attention_bias' is true"},
      {"kv heads", {{"num_key_value_heads", 3}}, "num_key_value_heads 3 must divide num_attention_heads 4"},
      {"head dim", {{"head_dim", 16}}, "'head_dim' is 16"},
      {"wrong type", {{"num_hidden_layers", "two"}}, "'num_hidden_layers' must be an integer"},
      {"negative", {{"vocab_size", -5}}, "'vocab_size' must be positive"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    nlohmann::json cfg = base;
    cfg.merge_patch(c.patch);
    const fs::path p = root / "config.json";
    std::ofstream(p, std::ios::trunc) << cfg.dump();
    const std::string err = error_of([&] { interop::read_hf_llama_config(engine::JsonObject::read(p)); });
    CHECK(has(err, c.message));
    CHECK(has(err, p.string()));
  }
  // Absent sizes are transformers' defaults (LLaMA-7B's), as llava-hf's text_config relies on.
  const interop::HfLlama defaults =
      interop::read_hf_llama_config(engine::JsonObject(nlohmann::json{{"model_type", "llama"}}, "text_config"));
  CHECK(defaults.config.dim == 4096);
  CHECK(defaults.config.hidden() == 11008);
  CHECK(defaults.config.n_layers == 32);
  CHECK(defaults.config.n_kv_heads == 32);
  CHECK(defaults.config.vocab_size == 32000);
  std::ofstream(root / "config.json", std::ios::trunc) << "{\"hidden_size\": ";
  CHECK(has(error_of([&] { engine::JsonObject::read(root / "config.json"); }), "not valid JSON"));
  fs::remove_all(root);
}
