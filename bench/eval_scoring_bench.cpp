// Evaluation speed: SynthSQA questions scored by likelihood on the study's
// model shape (ViT 64px/8 width 128 x 4 -> mlp2x_gelu -> LLM dim 192 x 6,
// random weights: the work does not depend on their values), three ways side
// by side, repetitions interleaved:
//   per-choice  each question's choices as one batch of whole rows, each row
//               with its own copy of the image: how evaluate scored before
//               batching (the ViT and the shared prompt run once per choice)
//   batched 1   experiments/stages/sqa_scoring.h: the shared prefix once (KV
//               cache), the ViT once per question, one question per pass
//   batched B   the same, B questions per pass (evaluate.batch_questions)
// Prints seconds per repetition (median), questions/s, the speed-up over
// per-choice, the time the whole split would take, and how many picks agree
// with per-choice's (float rounding may flip near-ties, nothing else).
//
//   ./qslaw bench eval-scoring [--sqa runs/cache/datasets/sqa_....h5]
//       [--tokenizer runs/cache/pretrain_llm/<entry>/tokenizer.json]
//       [--weights fp|minmax|nf4] [--questions N] [--batch B] [--reps R] [--threads T]
//       [--generate N] [--profile]
//
// --generate N adds greedy generation of up to N tokens (the paper's
// protocol; parsed picks of a random model mean nothing, only its time), B
// questions per pass. --profile prints where the last path's time goes.
//
// Without --sqa a small SynthSQA test split is generated; without
// --tokenizer the byte tokenizer is used (longer rows than the study's BPE).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "bench_util.h"
#include "data/sqa.h"
#include "data/tokenizer.h"
#include "engine/ops.h"
#include "engine/profiler.h"
#include "experiments/stages/multimodal.h"
#include "experiments/stages/sqa_scoring.h"

namespace {

namespace ex = qs::experiments;
namespace d = qs::data;
namespace e = qs::engine;

struct Options {
  std::string sqa, tokenizer, weights = "minmax";
  int64_t questions = 200, batch = 16, reps = 3;
  int threads = 1;
  int64_t generate = 0;  // > 0: also time greedy generation of this many tokens
  bool profile = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "bench eval-scoring: %s\nusage: eval-scoring [--sqa FILE.h5] [--tokenizer tokenizer.json] "
               "[--weights fp|minmax|nf4] [--questions N] [--batch B] [--reps R] [--threads T] [--generate N] [--profile]\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage("missing value after " + a);
      return argv[++i];
    };
    if (a == "--sqa") o.sqa = value();
    else if (a == "--tokenizer") o.tokenizer = value();
    else if (a == "--weights") o.weights = value();
    else if (a == "--questions") o.questions = qs::bench::int_arg(value(), "--questions", 1, 1000000);
    else if (a == "--batch") o.batch = qs::bench::int_arg(value(), "--batch", 1, 1024);
    else if (a == "--reps") o.reps = qs::bench::int_arg(value(), "--reps", 1, 1000);
    else if (a == "--threads") o.threads = qs::bench::int_arg(value(), "--threads", 1, 1024);
    else if (a == "--generate") o.generate = qs::bench::int_arg(value(), "--generate", 1, 4096);
    else if (a == "--profile") o.profile = true;
    else usage("unknown argument '" + a + "'");
  }
  if (o.weights != "fp" && o.weights != "minmax" && o.weights != "nf4") usage("unknown --weights '" + o.weights + "'");
  return o;
}

// The study's shapes (experiments/pipeline.yaml); LoRA on every block's
// linears as the tuned models have it.
ex::MultimodalSetup study_setup(const Options& o) {
  ex::MultimodalSetup s;
  s.tok = ex::PipelineTokens::own(o.tokenizer.empty() ? d::Tokenizer() : d::Tokenizer::load(o.tokenizer));
  const bool bytes = o.tokenizer.empty();
  s.pre.model.vocab_size = s.tok.vocab_size();
  s.pre.model.dim = 192;
  s.pre.model.n_layers = 6;
  s.pre.model.n_heads = 6;
  s.pre.model.ffn_hidden = 512;
  s.pre.model.max_seq_len = bytes ? 1024 : 256;
  s.pre.model.init_std = 0.2;  // far from uniform, so choices rarely tie
  s.llm_weights = qs::nn::Llama(s.pre.model).state_dict();
  s.vit_weights = qs::vision::VisionTransformer(s.vit).state_dict();
  s.method.preset = ex::Preset::lwc_lora;
  s.method.weights = o.weights == "fp" ? ex::Weights::fp : o.weights == "nf4" ? ex::Weights::nf4 : ex::Weights::minmax;
  s.method.scale_learning = false;
  s.method.warmup = false;
  s.llava.max_len = s.pre.model.max_seq_len;
  s.llava.answer_format = d::AnswerFormat::text;
  return s;
}

d::SqaSplit test_split(const Options& o) {
  if (!o.sqa.empty()) return d::load_sqa(o.sqa).test;
  d::SqaConfig c;
  c.train = 1;
  c.val = 1;
  c.test = o.questions;
  return d::make_sqa(c).test;
}

// The pre-batching path: one question at a time, its choices as whole rows.
std::vector<std::vector<double>> per_choice(qs::nn::Llava& model, const d::SqaSplit& split,
                                            const std::vector<int64_t>& indices, const ex::MultimodalSetup& setup) {
  std::vector<std::vector<double>> out;
  for (int64_t i : indices) {
    bool cut = false;
    std::vector<ex::Sample> samples;
    for (d::Encoded& row : ex::choice_rows(split.questions[static_cast<std::size_t>(i)], setup, "", cut)) {
      samples.push_back({std::move(row), ex::split_image(split, i)});
    }
    const ex::ModelBatch b = ex::make_batch(samples);
    const e::Tensor ll = model.sequence_log_likelihood(b.batch.ids, b.images, b.batch.targets, d::kIgnore);
    out.emplace_back(ll.data<double>(), ll.data<double>() + ll.numel());
  }
  return out;
}

// Token positions each path runs through the LLM: per-choice runs every
// choice's whole row; batched runs the shared prefix (the positions before
// the first scored label) once and each choice's remaining tokens. Their
// ratio bounds what sharing the prefix alone can gain.
std::pair<int64_t, int64_t> llm_positions(const d::SqaSplit& split, const std::vector<int64_t>& indices,
                                          const ex::MultimodalSetup& setup) {
  int64_t whole = 0, shared = 0;
  for (int64_t i : indices) {
    bool cut = false;
    const std::vector<d::Encoded> rows = ex::choice_rows(split.questions[static_cast<std::size_t>(i)], setup, "", cut);
    std::size_t prefix = 0;
    while (prefix < rows.front().labels.size() && rows.front().labels[prefix] == d::kIgnore) ++prefix;
    shared += static_cast<int64_t>(prefix);
    for (const d::Encoded& r : rows) {
      whole += static_cast<int64_t>(r.ids.size());
      shared += static_cast<int64_t>(r.ids.size() - prefix);
    }
  }
  return {whole, shared};
}

int64_t argmax(const std::vector<double>& v) {
  return static_cast<int64_t>(std::max_element(v.begin(), v.end()) - v.begin());
}


}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    omp_set_num_threads(o.threads);
    const ex::MultimodalSetup setup = study_setup(o);
    auto model = ex::build_llava(setup, ex::Phase::tune, "");
    model->eval();
    const d::SqaSplit split = test_split(o);
    const int64_t n = std::min<int64_t>(o.questions, static_cast<int64_t>(split.questions.size()));
    if (n == 0) usage("the split has no questions");
    std::vector<int64_t> indices(static_cast<std::size_t>(n));
    std::iota(indices.begin(), indices.end(), 0);

    const ex::ScoringOptions one{ex::Scoring::likelihood, 1, 8}, many{ex::Scoring::likelihood, o.batch, 8};
    const ex::ScoringOptions gen{ex::Scoring::generate, o.batch, std::max<int64_t>(o.generate, 1)};
    std::vector<double> t_choice, t_one, t_many, t_gen;
    std::vector<std::vector<double>> ref;
    std::vector<ex::QuestionScore> got_one, got_many;
    auto timed = [](auto&& f) {
      const auto start = std::chrono::steady_clock::now();
      f();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    for (int64_t r = 0; r < o.reps; ++r) {
      t_choice.push_back(timed([&] { ref = per_choice(*model, split, indices, setup); }));
      t_one.push_back(timed([&] { got_one = ex::score_questions(*model, split, indices, setup, one); }));
      t_many.push_back(timed([&] { got_many = ex::score_questions(*model, split, indices, setup, many); }));
      if (o.generate > 0) t_gen.push_back(timed([&] { ex::score_questions(*model, split, indices, setup, gen); }));
    }
    int64_t agree_one = 0, agree_many = 0;
    for (std::size_t k = 0; k < ref.size(); ++k) {
      agree_one += got_one[k].picked == argmax(ref[k]);
      agree_many += got_many[k].picked == argmax(ref[k]);
    }
    const double whole = static_cast<double>(split.questions.size());
    double image_rows = 0, images = 0;  // ViT runs: one per choice, or one per question
    for (int64_t i : indices) {
      if (split.image_index[static_cast<std::size_t>(i)] < 0) continue;
      image_rows += static_cast<double>(split.questions[static_cast<std::size_t>(i)].choices.size());
      images += 1;
    }
    const double choices_per_image = images > 0 ? image_rows / images : 1.0;
    const double base = qs::bench::median(t_choice);
    std::printf("%lld questions of %lld (%s), %s weights, %d thread(s), median of %lld\n",
                static_cast<long long>(n), static_cast<long long>(split.questions.size()),
                o.sqa.empty() ? "generated" : o.sqa.c_str(), o.weights.c_str(), o.threads,
                static_cast<long long>(o.reps));
    auto row = [&](const std::string& name, const std::vector<double>& t, int64_t agree) {
      const double m = qs::bench::median(t);
      const std::string picks = agree < 0 ? "-" : std::to_string(agree) + "/" + std::to_string(n);
      std::printf("| %s | %.2f | %.1f | %.2fx | %.0f | %s |\n", name.c_str(), m, static_cast<double>(n) / m, base / m,
                  m / static_cast<double>(n) * whole, picks.c_str());
    };
    const auto [whole_positions, shared_positions] = llm_positions(split, indices, setup);
    std::printf("LLM token positions: %lld per-choice, %lld batched (%.2fx fewer; images in the ViT: %.2fx fewer)\n\n",
                static_cast<long long>(whole_positions), static_cast<long long>(shared_positions),
                static_cast<double>(whole_positions) / static_cast<double>(shared_positions), choices_per_image);
    std::printf("| path | s | questions/s | speed-up | whole split (s) | picks as per-choice |\n"
                "| --- | ---: | ---: | ---: | ---: | ---: |\n");
    row("per-choice (before batching)", t_choice, n);
    row("batched, 1 question per pass", t_one, agree_one);
    row("batched, " + std::to_string(o.batch) + " questions per pass", t_many, agree_many);
    if (o.generate > 0) {
      row("greedy generation, " + std::to_string(o.generate) + " tokens, " + std::to_string(o.batch) + " per pass", t_gen, -1);
    }
    if (o.profile) {  // where the last path's time goes, op by op
      e::profiler::reset();
      e::profiler::enable(true);
      const double t = timed([&] { ex::score_questions(*model, split, indices, setup, o.generate > 0 ? gen : many); });
      e::profiler::enable(false);
      std::printf("\n| op (%s, %lld per pass) | calls | s | %% |\n| --- | ---: | ---: | ---: |\n",
                  o.generate > 0 ? "generation" : "likelihood", static_cast<long long>(o.batch));
      double kernels = 0;
      for (const e::profiler::Entry& entry : e::profiler::entries()) {
        kernels += entry.seconds;
        if (entry.seconds < 0.01 * t) continue;
        std::printf("| %s | %lld | %.2f | %.1f |\n", entry.name.c_str(), static_cast<long long>(entry.calls), entry.seconds,
                    100 * entry.seconds / t);
      }
      std::printf("| (outside kernels) | | %.2f | %.1f |\n", t - kernels, 100 * (t - kernels) / t);
    }
    return 0;
  } catch (const std::exception& err) {
    std::fprintf(stderr, "bench eval-scoring: %s\n", err.what());
    return 1;
  }
}
