// Stage pretrain_llm: full-precision LM pretraining on the text corpus.
// Outputs: tokenizer.json, model.h5 (weights; the model config as an
// attribute) and the results; checkpoint.h5 (resume state) while it runs.
#include <sys/resource.h>

#include <cmath>
#include <vector>

#include "data/lm_dataset.h"
#include "data/tokenizer.h"
#include "engine/backend.h"
#include "engine/dist/process_group.h"
#include "engine/cpu/host_allocator.h"
#include "engine/io/tensor_file.h"
#include "experiments/stage.h"
#include "experiments/stages/lm_training.h"
#include "experiments/stages/pretrain_config.h"

namespace qs::experiments {

namespace {

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

nlohmann::json run(StageContext& ctx) {
  PretrainConfig c = read_pretrain_config(ctx.config, ctx.seed);
  RunLog& log = *ctx.log;
  data::Corpus corpus = data::make_corpus(c.corpus);
  log.line(fmt::format("[{}] corpus: {} train / {} val world / {} val English documents", ctx.stage,
                       corpus.train.size(), corpus.val.size(), corpus.val_english.size()));

  const auto tok_path = ctx.artifacts / "tokenizer.json";
  data::Tokenizer tok;
  if (std::filesystem::exists(tok_path)) {
    tok = data::Tokenizer::load(tok_path);
  } else {
    // Documents at an even stride: the corpus lists its sources one after
    // another (world text, creature profiles, English), and the merges must
    // serve them all.
    const auto n = std::min<std::size_t>(corpus.train.size(), static_cast<std::size_t>(c.tokenizer_documents));
    std::vector<std::string> sample;
    sample.reserve(n);
    for (std::size_t i = 0; i < n; ++i) sample.push_back(corpus.train[i * corpus.train.size() / n]);
    tok = data::Tokenizer::train(sample, c.vocab_size);
    tok.save(tok_path);
  }
  c.model.vocab_size = tok.vocab_size();
  engine::Tensor train = data::pack_sequences(corpus.train, tok, c.train.seq_len);
  engine::Tensor val = data::pack_sequences(corpus.val, tok, c.train.seq_len);
  log.line(fmt::format("[{}] tokenizer: {} tokens; {} train / {} val sequences of {}", ctx.stage, tok.vocab_size(),
                       train.size(0), val.size(0), c.train.seq_len));

  nn::Llama model(c.model);
  model.to(engine::dist::rank_device(c.train.device));
  log.line(fmt::format("[{}] model: {} parameters ({} layers, dim {}, {} heads, ffn {})", ctx.stage,
                       model.num_parameters(), c.model.n_layers, c.model.dim, c.model.n_heads, c.model.hidden()));
  LmTrainResult r = train_lm(model, train, val, c.train, ctx.seed, ctx.checkpoints / "checkpoint.h5", log,
                             ctx.stage, -1, to_yaml(ctx.config.node()));

  model.eval();
  const int64_t all_val = (val.size(0) + c.train.batch_size - 1) / c.train.batch_size;
  const double val_loss = evaluate_lm(model, val, c.train.batch_size, all_val);
  const TextScores scores = score_text(model, tok, make_text_probes(corpus, c.corpus, tok, c.train.seq_len, c.probes, ctx.seed));
  nn::GenerateOptions gen;
  gen.max_new_tokens = 24;
  gen.eos_id = data::Tokenizer::kEos;
  std::vector<int64_t> prompt{data::Tokenizer::kBos};
  for (int64_t id : tok.encode(c.sample_prompt)) prompt.push_back(id);
  // An undertrained model can stop mid-character: the sample goes to JSON as valid UTF-8.
  const std::string sample = data::clean_text(c.sample_prompt + tok.decode(model.generate(prompt, gen), true));

  engine::TensorFile weights;
  weights.tensors = model.state_dict();
  weights.attributes["kind"] = "llama";
  weights.attributes["model_config"] = to_yaml(ctx.config.node()["model"] ? ctx.config.node()["model"] : YAML::Node());
  weights.attributes["vocab_size"] = std::to_string(tok.vocab_size());
  engine::save_tensor_file(ctx.artifacts / "model.h5", weights);
  // The resume state has served its purpose; it records run times, so the
  // cached files stay identical across runs without it.
  std::filesystem::remove(ctx.artifacts / "checkpoint.h5");

  const auto mem = engine::cpu::host_cache_stats();
  nlohmann::json results{{"parameters", model.num_parameters()},
                         {"steps", r.steps_done},
                         {"train_loss", r.train_loss},
                         {"val_loss", val_loss},
                         {"val_ppl", std::exp(val_loss)},
                         {"tokens_per_second", r.tokens_per_second},
                         {"train_seconds", r.seconds},
                         {"train_tokens", static_cast<double>(r.steps_done * c.train.batch_size * c.train.grad_accum * c.train.seq_len)},
                         {"resumed", r.resumed},
                         {"peak_tensor_memory_mb", static_cast<double>(mem.peak_live_bytes) / (1 << 20)},
                         {"peak_rss_mb", peak_rss_mb()},
                         {"sample", sample},
                         {"probes", scores.json()}};
  log.line(fmt::format("[{}] val loss {:.4f}, perplexity {:.2f}; {:.0f} tokens/s; {:.1f} s; peak RSS {:.0f} MB",
                       ctx.stage, val_loss, std::exp(val_loss), r.tokens_per_second, r.seconds, peak_rss_mb()));
  log.line(fmt::format("[{}] held out: {}", ctx.stage, scores.summary()));
  log.line(fmt::format("[{}] sample: {}", ctx.stage, sample));
  return results;
}

}  // namespace

StageDef pretrain_llm_stage() {
  return {"pretrain_llm", "full-precision LM pretraining on the text corpus",
          [](ConfigSection& s) { read_pretrain_config(s, 0); }, run};
}

}  // namespace qs::experiments
