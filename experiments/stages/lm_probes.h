#pragma once
// What a text-only LLM knows, measured the same way wherever it is asked
// (after pretraining, for each quantizer in the calibrate table, before and
// after scale learning): perplexity on held-out world text, perplexity on
// held-out English, and recall of the knowledge base's facts through the
// held-out paraphrase (data/entities.h), scored by likelihood.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/entities.h"
#include "data/tokenizer.h"
#include "experiments/config.h"
#include "experiments/metrics.h"
#include "nn/models/llama.h"

namespace qs::experiments {

struct RecallResult {
  double accuracy = 0.0;  // share of probes whose true value scores highest
  double chance = 0.0;    // mean of 1 / candidates
  int64_t probes = 0;
  std::map<std::string, double> by_attribute;  // accuracy per attribute name
};

// Each probe's candidates are scored by the summed log-probability of the
// completion after "<s>" + prefix; ties go to the first candidate.
RecallResult evaluate_recall(nn::Llama& model, const data::Tokenizer& tok,
                             const std::vector<data::RecallProbe>& probes, int64_t batch_size = 32);

struct ProbeConfig {
  int64_t recall_probes = 2000;  // 0: no recall probe
  int64_t recall_choices = 4;
  int64_t eval_batches = 16;     // perplexity batches per text split
  int64_t batch_size = 16;
};
ProbeConfig read_probe_config(ConfigSection section);

// Held-out text and probes, built once per stage from the pretraining corpus.
struct TextProbes {
  // Packed (N, T + 1) rows spread evenly over the held-out text, eval_batches
  // x batch_size of them at most; english undefined without an English source.
  engine::Tensor world, english;
  std::vector<data::RecallProbe> recall;  // empty without a knowledge base
  ProbeConfig config;
};
// The recall probes alone: empty without a knowledge base or with
// recall_probes 0 (evaluate scores a tuned LLM's recall on these).
std::vector<data::RecallProbe> make_recall_probes(const data::CorpusConfig& corpus_config, const ProbeConfig& config,
                                                  uint64_t seed);
TextProbes make_text_probes(const data::Corpus& corpus, const data::CorpusConfig& corpus_config,
                            const data::Tokenizer& tok, int64_t seq_len, const ProbeConfig& config,
                            uint64_t seed);

struct TextScores {
  double world_ppl = 0.0;
  std::optional<double> english_ppl;
  std::optional<RecallResult> recall;
  // {"world_ppl", "english_ppl", "recall", "recall_chance", "recall_by_attribute"}; absent parts are null.
  nlohmann::json json() const;
  std::string summary() const;  // "world ppl 3.21  english ppl 45.1  recall 61.2% (chance 25.0%)"
};
TextScores score_text(nn::Llama& model, const data::Tokenizer& tok, const TextProbes& probes);

}  // namespace qs::experiments
