#include "experiments/model_files.h"

#include <yaml-cpp/yaml.h>

#include "data/tokenizer.h"
#include "engine/error.h"
#include "engine/io/tensor_file.h"
#include "experiments/config.h"
#include "experiments/stages/lm_training.h"
#include "interop/hf_llama.h"

namespace qs::experiments {

void qslaw_llm_to_hf(const std::filesystem::path& h5, const std::filesystem::path& folder, engine::DType dtype) {
  engine::TensorFile f = engine::load_tensor_file(h5);
  const auto kind = f.attributes.find("kind");
  QS_CHECK(kind != f.attributes.end() && kind->second == "llama",
           "{}: not a qslaw LLM file (no attribute kind = llama; pretrain_llm's model.h5 is one)", h5.string());
  for (const char* key : {"model_config", "vocab_size"}) {
    QS_CHECK(f.attributes.count(key), "{}: the attribute '{}' is missing", h5.string(), key);
  }
  const YAML::Node model = YAML::Load(f.attributes.at("model_config"));
  nn::LlamaConfig config = read_model_config(
      ConfigSection(model.IsNull() ? YAML::Node(YAML::NodeType::Map) : model, "model", h5.string() + " (model_config)"), 0);
  try {
    config.vocab_size = std::stoll(f.attributes.at("vocab_size"));
  } catch (const std::exception&) {
    fail("{}: the attribute vocab_size is '{}', not a number", h5.string(), f.attributes.at("vocab_size"));
  }
  nn::Llama llm(config, nullptr, /*random_init=*/false);
  llm.load_state_dict(f.tensors);
  interop::HfLlama info;
  info.config = config;
  info.bos_token_id = data::Tokenizer::kBos;
  info.eos_token_id = data::Tokenizer::kEos;
  info.pad_token_id = data::Tokenizer::kPad;
  interop::save_hf_llama(llm, info, folder, dtype);
  const std::filesystem::path tokenizer = h5.parent_path() / "tokenizer.json";
  if (std::filesystem::exists(tokenizer)) {
    std::filesystem::copy_file(tokenizer, folder / "qslaw_tokenizer.json",
                               std::filesystem::copy_options::overwrite_existing);
  }
}

void hf_llm_to_qslaw(const std::filesystem::path& folder, const std::filesystem::path& h5) {
  const interop::LoadedLlama m = interop::load_hf_llama(folder);
  const nn::LlamaConfig& c = m.info.config;
  QS_CHECK(c.n_kv_heads <= 0 || c.n_kv_heads == c.n_heads,
           "{}: {} key/value heads for {} query heads; qslaw's model section has no grouped-query attention",
           folder.string(), c.n_kv_heads, c.n_heads);
  QS_CHECK(c.rope_linear_factor == 1.0, "{}: RoPE scaling {}; qslaw's model section has none", folder.string(),
           c.rope_linear_factor);
  YAML::Node model(YAML::NodeType::Map);
  model["dim"] = c.dim;
  model["n_layers"] = c.n_layers;
  model["n_heads"] = c.n_heads;
  model["ffn_hidden"] = c.hidden();
  model["max_seq_len"] = c.max_seq_len;
  model["norm_eps"] = c.norm_eps;
  model["rope_theta"] = c.rope_theta;
  model["init_std"] = c.init_std;
  engine::TensorFile f;
  f.tensors = m.model->state_dict();
  f.attributes["kind"] = "llama";
  f.attributes["model_config"] = to_yaml(model);
  f.attributes["vocab_size"] = std::to_string(c.vocab_size);
  engine::save_tensor_file(h5, f);
}

}  // namespace qs::experiments
