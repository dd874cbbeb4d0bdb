#pragma once
// LoRA adapters in PEFT's files, so an adapter tuned here loads with
// `PeftModel.from_pretrained(base, folder)` and one tuned with PEFT loads
// here: adapter_config.json (peft_type LORA, r, lora_alpha, target_modules)
// and adapter_model.safetensors holding, for each adapted linear,
//   base_model.model.<its Hugging Face name>.lora_A.weight  (r, in)
//   base_model.model.<its Hugging Face name>.lora_B.weight  (out, r)
// with the update (lora_alpha / r) B A, as nn::LoraLinear computes it.
#include <filesystem>
#include <string>
#include <vector>

#include "interop/hf_llama.h"

namespace qs::interop {

struct PeftAdapterInfo {
  std::string base_model;  // base_model_name_or_path, for whoever loads it
  double dropout = 0.0;    // lora_dropout (training only)
};

// Every LoraLinear of `llm` (one rank and scaling for all, as PEFT's config
// has one); an error when there is none.
void save_peft_adapter(const nn::Llama& llm, const std::filesystem::path& folder, const PeftAdapterInfo& info = {},
                       const HfLlamaLayout& layout = {});

// Wraps the linears the config's target_modules name in LoRA adapters and
// fills them from the file. Errors name the file and the key or tensor:
// another peft_type, DoRA, rsLoRA, biases, fan_in_fan_out, and tensors
// missing, unexpected or mis-shaped (listed together, before anything is
// changed). Returns the adapted paths.
std::vector<std::string> load_peft_adapter(nn::Llama& llm, const std::filesystem::path& folder,
                                           const HfLlamaLayout& layout = {});

}  // namespace qs::interop
