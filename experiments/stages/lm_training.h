#pragma once
// Language-model training shared by the stages that train the LLM on text:
// typed config sections, the training loop (AdamW, warmup-cosine schedule,
// gradient accumulation and clipping, periodic evaluation and checkpoints)
// and resume from the last checkpoint.
#include <filesystem>
#include <string>

#include "data/corpus.h"
#include "experiments/config.h"
#include "experiments/metrics.h"
#include "nn/models/llama.h"

namespace qs::experiments {

struct LmTrainConfig {
  int64_t steps = 1000;
  int64_t batch_size = 16;
  int64_t seq_len = 128;
  int64_t grad_accum = 1;
  double lr = 1e-3;
  double min_lr_ratio = 0.1;
  double warmup_ratio = 0.03;
  std::string schedule = "cosine";
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;
  bool activation_checkpointing = false;
  std::string device = "cpu";  // cpu, cuda or cuda:N: where the LM trains
  int64_t log_every = 10;
  int64_t eval_every = 200;
  int64_t eval_batches = 8;
  int64_t checkpoint_every = 100;
};

LmTrainConfig read_train_config(ConfigSection section);
nn::LlamaConfig read_model_config(ConfigSection section, uint64_t seed);
data::CorpusConfig read_corpus_config(ConfigSection section, uint64_t seed);

struct LmTrainResult {
  int64_t steps_done = 0;
  double train_loss = 0.0;  // mean over the last log interval
  double seconds = 0.0;     // this process's training time
  double tokens_per_second = 0.0;
  bool resumed = false;
};

// Trains on `train` (packed (N, T + 1) sequences). When `checkpoint` exists,
// model, optimizer and step are restored from it first; it is rewritten every
// checkpoint_every steps and at the end, with the stage's config (YAML) and
// the step as attributes. stop_after >= 0 stops early after that many steps
// (as a kill would), for tests.
LmTrainResult train_lm(nn::Llama& model, const engine::Tensor& train, const engine::Tensor& val,
                       const LmTrainConfig& config, uint64_t seed,
                       const std::filesystem::path& checkpoint, RunLog& log,
                       const std::string& stage, int64_t stop_after = -1,
                       const std::string& config_yaml = "");

// Mean next-token loss over up to max_batches batches of the sequences.
double evaluate_lm(nn::Llama& model, const engine::Tensor& sequences, int64_t batch_size,
                   int64_t max_batches);

}  // namespace qs::experiments
