// Stage warmup: QSLAW's modality-aware warmup (METHOD.md). The scale factors
// alpha (restarted at 1 unless reset_alpha is off) and the projector are
// learned on batches that mix multimodal instruction samples (SynthSQA train
// questions with an image) and text-only chunks (loss on every token) - the
// corpus's English (our WikiText, as the official code mixes WikiText) or the
// whole pretraining corpus -
// the text share following the configured schedule. Methods without warmup
// pass align's outputs through unchanged.
// Outputs: projector.h5, alpha.h5 (scale learning only), results.
#include <cmath>
#include <filesystem>

#include "data/mixture.h"
#include "experiments/stages/multimodal.h"
#include "quant/scale_learning.h"

namespace qs::experiments {

namespace {

struct WarmupConfig {
  data::MixtureConfig mixture;
  bool reset_alpha = true;
  std::string multimodal = "sqa_image";  // or sqa (every train question)
  int64_t text_len = 128;
  std::string text = "corpus";  // or english: the corpus's English documents only
  StageTrain train;
};

WarmupConfig read_config(ConfigSection& s) {
  WarmupConfig c;
  c.mixture.schedule = data::parse_mix_schedule(s.get<std::string>("schedule", "constant"));
  // Either the text share or mix_ratio (multimodal samples per text sample).
  const bool by_ratio = s.has("mix_ratio");
  QS_CHECK(!(by_ratio && s.has("text_share")), "config {}: give '{}' or '{}', not both", s.file(), s.path_of("mix_ratio"),
           s.path_of("text_share"));
  const double share = s.get<double>("text_share", c.mixture.text_share), ratio = s.get<double>("mix_ratio", 1.0);
  c.mixture.text_share = by_ratio ? data::text_share_from_ratio(ratio) : share;
  c.mixture.start_share = s.get<double>("start_share", c.mixture.start_share);
  c.mixture.switch_fraction = s.get<double>("switch_fraction", c.mixture.switch_fraction);
  c.mixture.check();
  c.reset_alpha = s.get<bool>("reset_alpha", c.reset_alpha);
  c.multimodal = s.get<std::string>("multimodal", c.multimodal);
  QS_CHECK(c.multimodal == "sqa_image" || c.multimodal == "sqa", "config {}: '{}' is '{}' (expected sqa_image or sqa)",
           s.file(), s.path_of("multimodal"), c.multimodal);
  c.text_len = s.get<int64_t>("text_len", c.text_len);
  c.text = s.get<std::string>("text", c.text);
  QS_CHECK(c.text == "corpus" || c.text == "english", "config {}: '{}' is '{}' (expected corpus or english)", s.file(),
           s.path_of("text"), c.text);
  c.train = read_stage_train(s.section("train"), {.steps = 300, .batch_size = 32, .log_every = 10, .lr = 2e-3});
  return c;
}

nlohmann::json run(StageContext& ctx) {
  WarmupConfig c = read_config(ctx.config);
  QS_CHECK(ctx.upstream.count("align"), "[warmup] needs the align stage before it in 'stages'");
  MultimodalSetup setup = load_setup(ctx);
  RunLog& log = *ctx.log;
  const auto& align = ctx.upstream.at("align");
  if (!setup.method.warmup) {
    for (const char* f : {"projector.h5", "alpha.h5"}) {
      if (std::filesystem::exists(align / f)) std::filesystem::copy_file(align / f, ctx.artifacts / f);
    }
    log.line(fmt::format("[warmup] skipped: {} has no warmup; align's projector and scales pass through",
                         setup.method.label()));
    return {{"skipped", true}};
  }
  auto model = build_llava(setup, Phase::adapt, align);
  if (c.reset_alpha) {
    quant::reset_alpha(model->llm());
  }
  std::vector<nn::ParamGroup> groups = adapt_groups(*model, c.train);

  data::SqaDataset sqa = load_sqa_data(setup);
  std::vector<int64_t> pool;
  for (std::size_t i = 0; i < sqa.train.questions.size(); ++i) {
    if (c.multimodal == "sqa" || sqa.train.questions[i].has_image) pool.push_back(static_cast<int64_t>(i));
  }
  QS_CHECK(!pool.empty(), "[warmup] SynthSQA train has no question with an image (sqa.contexts.IMG is 0?)");
  const data::Corpus corpus = data::make_corpus(setup.pre.corpus);
  const std::size_t text_first = c.text == "english" ? corpus.english_first : 0;
  const int64_t text_docs = static_cast<int64_t>(corpus.train.size() - text_first);
  QS_CHECK(text_docs > 0, "[warmup] warmup.text is {}, but the pretraining corpus has no {} documents", c.text,
           c.text == "english" ? "English (pretrain_llm.corpus.english names no source)" : "training");
  EpochSampler mm_order(static_cast<int64_t>(pool.size()), setup.method.seed + 202);
  EpochSampler text_order(text_docs, setup.method.seed + 303);
  data::MixtureSampler mixture(c.mixture, std::max<int64_t>(c.train.steps, 1), c.train.batch_size, setup.method.seed + 404);
  int64_t mm_drawn = 0, text_drawn = 0;
  log.line(fmt::format("[warmup] {}: schedule {} (text share {:.3f}, start {:.3f}), {} multimodal samples, {} text chunks ({}), "
                       "alpha {}", setup.method.label(), data::name(c.mixture.schedule), c.mixture.text_share,
                       c.mixture.start_share, pool.size(), text_docs, c.text, c.reset_alpha ? "restarted at 1" : "kept from align"));
  auto next = [&](int64_t step) {
    const std::vector<bool> slots = mixture.next(step);
    std::vector<Sample> samples;
    int64_t n_text = 0;
    for (bool text : slots) {
      if (text) {
        const std::string& doc = corpus.train[text_first + static_cast<std::size_t>(text_order.at(text_drawn++))];
        samples.push_back({setup.tok.text(doc, c.text_len), engine::Tensor()});
        ++n_text;
      } else {
        samples.push_back(sqa_sample(sqa.train, pool[static_cast<std::size_t>(mm_order.at(mm_drawn++))], setup));
      }
    }
    log.metrics({{"stage", "warmup"}, {"step", step + 1},
                 {"text_share_scheduled", data::text_share_at(c.mixture, step, c.train.steps)},
                 {"text_share_realised", static_cast<double>(n_text) / static_cast<double>(slots.size())},
                 {"text_share_cumulative", static_cast<double>(mixture.text_drawn()) / static_cast<double>(mixture.total_drawn())}});
    return samples;
  };
  TrainStats stats = train_llava(*model, std::move(groups), c.train, next, log, "warmup");
  const double realised = mixture.total_drawn() ? static_cast<double>(mixture.text_drawn()) / static_cast<double>(mixture.total_drawn()) : 0.0;
  log.line(fmt::format("[warmup] loss {:.4f} in {:.1f} s; realised text share {:.3f} ({} of {} samples)", stats.final_loss,
                       stats.seconds, realised, mixture.text_drawn(), mixture.total_drawn()));
  save_adapted(ctx.artifacts, *model);
  return {{"loss", stats.final_loss}, {"seconds", stats.seconds}, {"tokens_per_second", stats.tokens_per_second},
          {"trainable_params", stats.trainable_params}, {"text_share_realised", realised}};
}

}  // namespace

StageDef warmup_stage() {
  return {"warmup", "QSLAW's modality-aware warmup: scale factors on a multimodal/text mixture",
          [](ConfigSection& s) { read_config(s); }, run, {"method", "llava", "sqa"}};
}

}  // namespace qs::experiments
