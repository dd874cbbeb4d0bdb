#pragma once
// qslaw merge: a LoRA adapter in PEFT's files folded into its base LLaMA
// (what PEFT's merge_and_unload does), written as a plain Hugging Face
// checkpoint; or the base alone converted to another dtype.
#include <filesystem>
#include <string>

namespace qs::cli {

struct MergeRequest {
  std::filesystem::path base;     // config.json + safetensors, or qslaw's packed model
  std::filesystem::path adapter;  // adapter_config.json + adapter_model.safetensors (may be empty)
  std::filesystem::path out;
  std::string dtype = "bf16";
};

int merge(const MergeRequest& request);

}  // namespace qs::cli
