#pragma once
// qslaw's LLM file (pretrain_llm's model.h5: the weights with the model
// section's YAML and the vocabulary size as attributes) to and from a Hugging
// Face LLaMA folder, so a model pretrained here runs in transformers and an
// outside LLaMA can stand in a qslaw tensor file. qslaw's tokenizer is its
// own format: it travels beside the checkpoint as qslaw_tokenizer.json.
#include <filesystem>

#include "engine/dtype.h"

namespace qs::experiments {

// A model.h5 -> config.json + safetensors (as dtype), special tokens as
// qslaw's tokenizer numbers them; tokenizer.json beside the file is copied.
void qslaw_llm_to_hf(const std::filesystem::path& h5, const std::filesystem::path& folder, engine::DType dtype);
// A Hugging Face LLaMA folder -> a model.h5 that pretrain_llm's readers take.
// Grouped-query attention and RoPE scaling have no keys in qslaw's model
// section, so such models are refused by name.
void hf_llm_to_qslaw(const std::filesystem::path& folder, const std::filesystem::path& h5);

}  // namespace qs::experiments
