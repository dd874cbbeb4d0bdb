#pragma once
// Hugging Face LlamaForCausalLM checkpoints (config.json and safetensors, one
// file or shards) in and out of nn::Llama. The two models compute the same
// function: rotate-half RoPE, RMSNorm, SwiGLU, no biases; grouped-query
// attention and linear RoPE scaling are carried over.
#include <filesystem>
#include <memory>
#include <string>

#include "engine/io/json_file.h"
#include "engine/io/safetensors.h"
#include "interop/checkpoint_source.h"
#include "nn/models/llama.h"

namespace qs::interop {

// What a LLaMA config.json says: the architecture and the special tokens.
struct HfLlama {
  nn::LlamaConfig config;
  bool tie_word_embeddings = false;  // lm_head reads the embedding matrix
  int64_t bos_token_id = -1, eos_token_id = -1, pad_token_id = -1;  // -1: none
};

// Parses a LlamaForCausalLM config (or the text_config of a LLaVA one);
// absent keys take transformers' defaults; errors name the file and the key, and refuse what nn::Llama cannot compute
// (biases, another activation, a head_dim other than hidden / heads, RoPE
// scaling other than linear).
HfLlama read_hf_llama_config(const engine::JsonObject& config);

// Where the decoder's tensors sit in a checkpoint: "model." and "" in
// LlamaForCausalLM; "language_model.model." and "language_model." in llava-hf.
struct HfLlamaLayout {
  std::string body = "model.";
  std::string head = "";
};

// The checkpoint's name for an nn::Llama parameter, e.g.
// "layers.3.attn.q_proj.weight" -> "model.layers.3.self_attn.q_proj.weight".
std::string hf_llama_name(const std::string& name, const HfLlamaLayout& layout = {});

// The checkpoint's decoder tensors under nn::Llama's names (tied heads,
// old exports' rotary_emb.inv_freq skipped), for loading whole or by block.
CheckpointSource hf_llama_source(const engine::SafetensorsCheckpoint& checkpoint, const HfLlama& info,
                                 const HfLlamaLayout& layout = {});

// Streams the checkpoint's decoder weights into `model` through
// Module::load_state: every name and shape is checked before anything is
// copied (missing, unexpected and mis-shaped tensors are listed together),
// then one tensor at a time is read and widened (f16/bf16 to f32). With tied
// embeddings lm_head is filled from the embedding matrix (the two are
// separate parameters from then on).
void load_hf_llama_weights(nn::Llama& model, const engine::SafetensorsCheckpoint& checkpoint, const HfLlama& info,
                           const HfLlamaLayout& layout = {});

struct LoadedLlama {
  HfLlama info;
  std::shared_ptr<nn::Llama> model;
};
// A folder holding config.json and model.safetensors (or its shards).
LoadedLlama load_hf_llama(const std::filesystem::path& folder);

// The config.json that describes `m` to transformers (torch_dtype from
// `dtype`; tie_word_embeddings from `tied`).
nlohmann::json hf_llama_config_json(const nn::LlamaConfig& m, const HfLlama& info, engine::DType dtype, bool tied);

// Writes config.json and the weights (as `dtype`: f32, bf16 or f16; sharded
// above max_shard_bytes) so that transformers' LlamaForCausalLM, or
// load_hf_llama, reads the same model back. LoRA adapters are merged and
// quantized layers dequantized (merged_weights), so a tuned model exports as
// the full-precision model it computes. lm_head is written unless it equals
// the embedding matrix, in which case the config says tied.
void save_hf_llama(const nn::Llama& model, const HfLlama& info, const std::filesystem::path& folder,
                   engine::DType dtype = engine::DType::f32, uint64_t max_shard_bytes = uint64_t{5} << 30);

}  // namespace qs::interop
