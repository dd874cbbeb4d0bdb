#pragma once
// The settings of the pretrain_llm stage, read by it and by downstream
// stages that rebuild its model, tokenizer and corpus.
#include <string>

#include "data/corpus.h"
#include "experiments/config.h"
#include "experiments/stages/lm_probes.h"
#include "experiments/stages/lm_training.h"
#include "nn/models/llama.h"

namespace qs::experiments {

struct PretrainConfig {
  data::CorpusConfig corpus;
  int64_t vocab_size = 2048;
  int64_t tokenizer_documents = 5000;
  nn::LlamaConfig model;
  LmTrainConfig train;
  std::string sample_prompt;
  ProbeConfig probes;  // what the trained LLM knows (lm_probes.h)
};

PretrainConfig read_pretrain_config(ConfigSection& section, uint64_t seed);

}  // namespace qs::experiments
