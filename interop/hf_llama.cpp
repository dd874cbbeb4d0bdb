#include "interop/hf_llama.h"

#include <map>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/ops.h"
#include "interop/merged_weights.h"

namespace qs::interop {

namespace {

using engine::JsonObject;

// nn::Llama's names inside a block against the checkpoint's.
struct Rename {
  const char* ours;
  const char* theirs;
};
constexpr Rename kBlockNames[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn.q_proj.weight", "self_attn.q_proj.weight"},
    {"attn.k_proj.weight", "self_attn.k_proj.weight"},
    {"attn.v_proj.weight", "self_attn.v_proj.weight"},
    {"attn.o_proj.weight", "self_attn.o_proj.weight"},
    {"mlp_norm.weight", "post_attention_layernorm.weight"},
    {"mlp.gate_proj.weight", "mlp.gate_proj.weight"},
    {"mlp.up_proj.weight", "mlp.up_proj.weight"},
    {"mlp.down_proj.weight", "mlp.down_proj.weight"},
};

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// The special token ids: an integer, null, or (LLaMA 3.1's eos) a list whose
// first entry is taken.
int64_t token_id(const JsonObject& c, const std::string& key) {
  if (!c.has(key)) return -1;
  const nlohmann::json& v = c.json()[key];
  if (v.is_array()) {
    QS_CHECK(!v.empty() && v[0].is_number_integer(), "{} must be an integer or a list of them, got {}", c.at(key),
             v.dump());
    return v[0].get<int64_t>();
  }
  return c.integer(key);
}

// Tensors in the checkpoint that are not parameters: older exports saved
// RoPE's inverse frequencies, which nn::Llama computes.
bool ignorable(const std::string& hf) { return hf.find("rotary_emb.inv_freq") != std::string::npos; }

}  // namespace

HfLlama read_hf_llama_config(const JsonObject& c) {
  const std::string model_type = c.string_or("model_type", "llama");
  QS_CHECK(model_type == "llama", "{} is '{}'; this reader takes LLaMA models ('llama')", c.at("model_type"),
           model_type);
  QS_CHECK(c.string_or("hidden_act", "silu") == "silu", "{} is '{}'; LLaMA's SwiGLU needs 'silu'",
           c.at("hidden_act"), c.string("hidden_act"));
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    QS_CHECK(!c.boolean_or(bias, false), "{} is true; nn::Llama has no biases", c.at(bias));
  }
  HfLlama out;
  nn::LlamaConfig& m = out.config;
  // Absent keys take transformers' LlamaConfig defaults (LLaMA-7B's sizes),
  // as llava-hf's text_config relies on.
  m.vocab_size = c.integer_or("vocab_size", 32000);
  m.dim = c.integer_or("hidden_size", 4096);
  m.n_layers = c.integer_or("num_hidden_layers", 32);
  m.n_heads = c.integer_or("num_attention_heads", 32);
  m.n_kv_heads = c.integer_or("num_key_value_heads", m.n_heads);
  m.ffn_hidden = c.integer_or("intermediate_size", 11008);
  m.max_seq_len = c.integer_or("max_position_embeddings", 2048);
  m.norm_eps = c.number_or("rms_norm_eps", 1e-6);
  m.rope_theta = c.number_or("rope_theta", 10000.0);
  m.init_std = c.number_or("initializer_range", 0.02);
  for (auto [key, value] : {std::pair{"vocab_size", m.vocab_size}, {"hidden_size", m.dim},
                            {"num_hidden_layers", m.n_layers}, {"num_attention_heads", m.n_heads},
                            {"num_key_value_heads", m.n_kv_heads}, {"intermediate_size", m.ffn_hidden},
                            {"max_position_embeddings", m.max_seq_len}}) {
    QS_CHECK(value > 0, "{} must be positive, got {}", c.at(key), value);
  }
  QS_CHECK(m.dim % m.n_heads == 0 && (m.dim / m.n_heads) % 2 == 0,
           "{}: hidden_size {} must split into num_attention_heads {} heads of even size", c.where(), m.dim,
           m.n_heads);
  QS_CHECK(m.n_heads % m.n_kv_heads == 0, "{}: num_key_value_heads {} must divide num_attention_heads {}",
           c.where(), m.n_kv_heads, m.n_heads);
  if (c.has("head_dim")) {
    QS_CHECK(c.integer("head_dim") == m.dim / m.n_heads,
             "{} is {}; nn::Llama needs hidden_size / num_attention_heads = {}", c.at("head_dim"),
             c.integer("head_dim"), m.dim / m.n_heads);
  }
  QS_CHECK(m.norm_eps > 0 && m.rope_theta > 0, "{}: rms_norm_eps and rope_theta must be positive", c.where());
  if (c.has("rope_scaling")) {
    const JsonObject s = c.object("rope_scaling");
    const std::string type = s.has("rope_type") ? s.string("rope_type") : s.string_or("type", "default");
    if (type == "linear") {
      m.rope_linear_factor = s.number("factor");
      QS_CHECK(m.rope_linear_factor > 0, "{} must be positive", s.at("factor"));
    } else {
      QS_CHECK(type == "default", "{}: RoPE scaling '{}' is not supported (none and 'linear' are)",
               c.at("rope_scaling"), type);
    }
  }
  out.tie_word_embeddings = c.boolean_or("tie_word_embeddings", false);
  out.bos_token_id = token_id(c, "bos_token_id");
  out.eos_token_id = token_id(c, "eos_token_id");
  out.pad_token_id = token_id(c, "pad_token_id");
  return out;
}

std::string hf_llama_name(const std::string& name, const HfLlamaLayout& layout) {
  if (name == "lm_head.weight") return layout.head + name;
  if (name == "embed_tokens.weight" || name == "norm.weight") return layout.body + name;
  if (starts_with(name, "layers.")) {
    const std::size_t dot = name.find('.', 7);
    if (dot != std::string::npos) {
      const std::string inner = name.substr(dot + 1);
      for (const Rename& r : kBlockNames) {
        if (inner == r.ours) return layout.body + name.substr(0, dot + 1) + r.theirs;
      }
    }
  }
  fail("hf_llama_name: '{}' is not a parameter of nn::Llama that a Hugging Face checkpoint holds", name);
}

CheckpointSource hf_llama_source(const engine::SafetensorsCheckpoint& checkpoint, const HfLlama& info,
                                 const HfLlamaLayout& layout) {
  const std::string head = layout.head + "lm_head.weight";
  CheckpointSource source(checkpoint,
                          [&](const std::string& hf) { return starts_with(hf, layout.body) || hf == head; });
  auto map = [&](const std::string& ours) { source.map(ours, hf_llama_name(ours, layout)); };
  map("embed_tokens.weight");
  map("norm.weight");
  for (int64_t i = 0; i < info.config.n_layers; ++i) {
    for (const Rename& r : kBlockNames) map(fmt::format("layers.{}.{}", i, r.ours));
  }
  if (info.tie_word_embeddings) {
    // lm_head is the embedding matrix whatever else the file holds, as
    // transformers ties them after loading.
    source.map("lm_head.weight", hf_llama_name("embed_tokens.weight", layout));
    source.skip(head);
  } else {
    map("lm_head.weight");
  }
  for (const std::string& hf : checkpoint.names()) {
    if (ignorable(hf)) source.skip(hf);
  }
  return source;
}

void load_hf_llama_weights(nn::Llama& model, const engine::SafetensorsCheckpoint& checkpoint, const HfLlama& info,
                           const HfLlamaLayout& layout) {
  model.load_state(hf_llama_source(checkpoint, info, layout).under(""));
}

LoadedLlama load_hf_llama(const std::filesystem::path& folder) {
  LoadedLlama out;
  out.info = read_hf_llama_config(JsonObject::read(folder / "config.json"));
  out.model = std::make_shared<nn::Llama>(out.info.config, nullptr, /*random_init=*/false);
  load_hf_llama_weights(*out.model, engine::SafetensorsCheckpoint(folder), out.info);
  return out;
}

nlohmann::json hf_llama_config_json(const nn::LlamaConfig& m, const HfLlama& info, engine::DType dtype, bool tied) {
  nlohmann::json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_act", "silu"},
      {"vocab_size", m.vocab_size},
      {"hidden_size", m.dim},
      {"intermediate_size", m.hidden()},
      {"num_hidden_layers", m.n_layers},
      {"num_attention_heads", m.n_heads},
      {"num_key_value_heads", m.n_kv_heads > 0 ? m.n_kv_heads : m.n_heads},
      {"max_position_embeddings", m.max_seq_len},
      {"rms_norm_eps", m.norm_eps},
      {"rope_theta", m.rope_theta},
      {"rope_scaling", m.rope_linear_factor == 1.0
                           ? nlohmann::json(nullptr)
                           : nlohmann::json{{"type", "linear"}, {"rope_type", "linear"}, {"factor", m.rope_linear_factor}}},
      {"initializer_range", m.init_std},
      {"tie_word_embeddings", tied},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"torch_dtype", dtype == engine::DType::f32 ? "float32" : dtype == engine::DType::bf16 ? "bfloat16" : "float16"},
  };
  for (auto [key, id] : {std::pair{"bos_token_id", info.bos_token_id}, {"eos_token_id", info.eos_token_id},
                         {"pad_token_id", info.pad_token_id}}) {
    config[key] = id >= 0 ? nlohmann::json(id) : nlohmann::json(nullptr);
  }
  return config;
}

void save_hf_llama(const nn::Llama& model, const HfLlama& info, const std::filesystem::path& folder,
                   engine::DType dtype, uint64_t max_shard_bytes) {
  QS_CHECK(dtype == engine::DType::f32 || dtype == engine::DType::bf16 || dtype == engine::DType::f16,
           "save_hf_llama: weights are written as f32, bf16 or f16, not {}", engine::dtype_name(dtype));
  // Adapters merged and quantized layers dequantized: the checkpoint is the
  // full-precision model that computes what this one does, made one tensor
  // at a time as the writer reaches it.
  std::map<std::string, MergedTensor> merged;
  for (MergedTensor& t : merged_tensors(model)) {
    std::string name = hf_llama_name(t.name);
    merged.emplace(std::move(name), std::move(t));
  }
  const bool tied = engine::equal(merged.at("lm_head.weight").make(), merged.at("model.embed_tokens.weight").make());
  if (tied) merged.erase("lm_head.weight");
  std::vector<engine::TensorHeader> headers;
  for (const auto& [name, t] : merged) headers.push_back({name, dtype, t.shape});
  engine::save_safetensors_checkpoint(
      folder, std::move(headers), [&](const engine::TensorHeader& h) { return merged.at(h.name).make().to(dtype); },
      max_shard_bytes);
  const nlohmann::json config = hf_llama_config_json(model.config(), info, dtype, tied);
  engine::write_file_atomically(folder / "config.json", config.dump(2) + "\n");
}

}  // namespace qs::interop
