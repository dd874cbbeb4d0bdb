// Stage evaluate: SynthSQA test accuracy per column (NAT SOC LAN TXT IMG NO
// G1-6 G7-12 Avg) under one or more scorings (experiments/stages/sqa_scoring.h:
// generation and parsing, the paper's; or the likelihood of each choice's
// answer, summed or per token); the first scoring listed fills `accuracy`,
// every one is kept under `by_scoring`. Then the text perplexity of the
// tuned LLM on the held-out corpus, its recall of the knowledge base's facts
// (when the world has one), and the tuning costs instruct reported.
// Outputs: predictions.jsonl (every question: each scoring's pick and
// scores), results.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>

#include "data/lm_dataset.h"
#include "engine/io/atomic_file.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "experiments/dist_json.h"
#include "experiments/json_text.h"
#include "experiments/stages/lm_probes.h"
#include "experiments/stages/lm_training.h"
#include "experiments/stages/multimodal.h"
#include "experiments/stages/sqa_scoring.h"
#include "experiments/table.h"

namespace qs::experiments {

namespace {

struct EvalConfig {
  int64_t questions = 0;  // 0: the whole test split
  int64_t max_new_tokens = 8;
  int64_t text_batches = 16;
  int64_t batch_questions = 16;
  std::string split = "test";
  std::vector<Scoring> scorings{Scoring::generate};  // the first fills `accuracy`
};

EvalConfig read_config(ConfigSection& s) {
  EvalConfig c;
  c.questions = s.get_in<int64_t>("questions", c.questions, 0, 100000000);
  c.max_new_tokens = s.get_in<int64_t>("max_new_tokens", c.max_new_tokens, 1, 4096);
  c.text_batches = s.get_in<int64_t>("text_batches", c.text_batches, 1, 1000000);
  c.batch_questions = s.get_in<int64_t>("batch_questions", c.batch_questions, 1, 1024);
  c.split = s.get<std::string>("split", c.split);
  QS_CHECK(c.split == "test" || c.split == "val", "config {}: '{}' must be test or val", s.file(), s.path_of("split"));
  // One scoring, or a list of them.
  std::vector<std::string> names{"generate"};
  if (s.has("scoring")) {
    names = s.node()["scoring"].IsSequence() ? s.get<std::vector<std::string>>("scoring", names)
                                            : std::vector<std::string>{s.get<std::string>("scoring", "generate")};
  }
  QS_CHECK(!names.empty(), "config {}: '{}' lists no scoring", s.file(), s.path_of("scoring"));
  c.scorings.clear();
  for (const std::string& n : names) {
    try {
      c.scorings.push_back(parse_scoring(n));
    } catch (const qs::Error& err) {
      fail("config {}: '{}': {}", s.file(), s.path_of("scoring"), err.what());
    }
    QS_CHECK(std::count(c.scorings.begin(), c.scorings.end(), c.scorings.back()) == 1, "config {}: '{}' lists {} twice",
             s.file(), s.path_of("scoring"), n);
  }
  return c;
}

void load_tuned(nn::Llava& model, const std::filesystem::path& path) {
  engine::TensorFile f = engine::load_tensor_file(path);
  const auto state = model.state_dict();
  for (auto& [k, t] : f.tensors) {
    QS_CHECK(state.count(k), "{}: tensor '{}' has no place in this model (was it tuned with another method?)",
             path.string(), k);
  }
  model.load_state_dict(f.tensors, /*strict=*/false);
}

nlohmann::json run(StageContext& ctx) {
  EvalConfig c = read_config(ctx.config);
  for (const char* need : {"warmup", "instruct"}) {
    QS_CHECK(ctx.upstream.count(need), "[evaluate] needs the {} stage before it in 'stages'", need);
  }
  MultimodalSetup setup = load_setup(ctx);
  RunLog& log = *ctx.log;
  auto model = build_llava(setup, Phase::tune, ctx.upstream.at("warmup"));
  load_tuned(*model, ctx.upstream.at("instruct") / "tuned.h5");
  model->eval();
  data::SqaDataset sqa = load_sqa_data(setup);
  const data::SqaSplit& split = c.split == "test" ? sqa.test : sqa.val;
  const int64_t n = c.questions > 0 ? std::min<int64_t>(c.questions, static_cast<int64_t>(split.questions.size()))
                                    : static_cast<int64_t>(split.questions.size());
  std::vector<int64_t> indices(static_cast<std::size_t>(n));
  std::iota(indices.begin(), indices.end(), 0);
  double chance = 0.0;  // expected accuracy of a uniform guess
  for (int64_t i : indices) {
    chance += 100.0 / static_cast<double>(split.questions[static_cast<std::size_t>(i)].choices.size()) / static_cast<double>(n);
  }
  std::vector<nlohmann::json> predictions(static_cast<std::size_t>(n));
  engine::dist::ProcessGroup& group = engine::dist::world();
  nlohmann::json by_scoring;
  double eval_seconds = 0.0;
  // likelihood and likelihood_mean come from one forward pass: sums and
  // token counts are kept, the other scoring is derived from them.
  std::vector<QuestionScore> likelihood_pass;
  // LEA: a likelihood pass takes each rationale from the generate pass's
  // text when that ran first (greedy decoding gives the same text).
  std::vector<std::string> generated;
  for (Scoring scoring : c.scorings) {
    std::map<std::string, std::pair<int64_t, int64_t>> tally;  // column -> (correct, total)
    int64_t malformed = 0;
    const auto start = std::chrono::steady_clock::now();
    ScoringOptions so{scoring, c.batch_questions, c.max_new_tokens};
    std::vector<QuestionScore> pass(static_cast<std::size_t>(n));
    for (int64_t done = 0; done < n;) {
      // Chunks of many batches: the scorer groups questions of similar length.
      const int64_t chunk = std::min<int64_t>(n - done, 16 * so.batch_questions);
      const std::vector<int64_t> part(indices.begin() + done, indices.begin() + done + chunk);
      std::vector<QuestionScore> scored;
      if (scoring != Scoring::generate && !likelihood_pass.empty()) {
        for (int64_t i : part) {
          scored.push_back(rescored(likelihood_pass[static_cast<std::size_t>(i)], scoring,
                                    split.questions[static_cast<std::size_t>(i)], setup));
        }
      } else {
        // With several processes each rank scores its share of the chunk and
        // every rank gathers all of it (shares are contiguous, in rank order).
        const engine::dist::Share share = engine::dist::share_of(chunk, group.rank(), group.size());
        const std::vector<int64_t> mine(part.begin() + share.begin, part.begin() + share.end);
        std::vector<std::string> part_generations;
        ScoringOptions po = so;
        if (scoring != Scoring::generate && !generated.empty()) {
          for (int64_t i : mine) part_generations.push_back(generated[static_cast<std::size_t>(i)]);
          po.generations = &part_generations;
        }
        if (!mine.empty()) scored = score_questions(*model, split, mine, setup, po);
        if (group.size() > 1) {
          nlohmann::json list = nlohmann::json::array();
          for (const QuestionScore& r : scored) list.push_back(to_json(r));
          scored.clear();
          for (const nlohmann::json& rank_list : all_gather_json(group, list)) {
            for (const nlohmann::json& j : rank_list) scored.push_back(question_score_from_json(j));
          }
        }
      }
      for (std::size_t k = 0; k < part.size(); ++k) {
        const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(part[k])];
        const QuestionScore& r = scored[k];
        const bool correct = r.picked && *r.picked == q.answer;
        malformed += !r.picked;
        for (const std::string& col : {data::name(q.subject), data::name(q.context_type), data::name(q.grade), std::string("Avg")}) {
          tally[col].first += correct;
          tally[col].second += 1;
        }
        nlohmann::json& p = predictions[static_cast<std::size_t>(part[k])];
        if (p.is_null()) p = {{"index", part[k]}, {"kind", q.kind}, {"answer", q.answer}};
        p[name(scoring)] = {{"generation", r.text}, {"parsed", r.picked ? nlohmann::json(*r.picked) : nlohmann::json()},
                            {"correct", correct}, {"scores", r.scores}, {"answer_tokens", r.answer_tokens}};
        pass[static_cast<std::size_t>(part[k])] = r;
      }
      done += chunk;
      log.progress("evaluate", done, n, 0.0, 0.0,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    if (scoring == Scoring::generate) {
      for (const QuestionScore& r : pass) generated.push_back(r.text);
    } else if (likelihood_pass.empty()) {
      likelihood_pass = std::move(pass);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    eval_seconds += seconds;
    nlohmann::json accuracy, counts;
    for (const std::string& col : accuracy_columns()) {
      auto it = tally.find(col);
      accuracy[col] = it == tally.end() ? nlohmann::json() : nlohmann::json(100.0 * it->second.first / it->second.second);
      counts[col] = it == tally.end() ? 0 : it->second.second;
    }
    by_scoring[name(scoring)] = {{"accuracy", accuracy}, {"counts", counts}, {"malformed", malformed}, {"seconds", seconds}};
    std::string line = fmt::format("[evaluate] {} ({}):", setup.method.label(), name(scoring));
    for (const std::string& col : accuracy_columns()) {
      line += accuracy[col].is_null() ? fmt::format(" {} -", col) : fmt::format(" {} {:.1f}", col, accuracy[col].get<double>());
    }
    log.line(line + fmt::format("  ({} questions, {} malformed, chance {:.1f}; {:.1f} s)", n, malformed, chance, seconds));
  }
  std::string lines;
  for (const nlohmann::json& p : predictions) lines += json_line(p) + "\n";
  engine::write_file_atomically(ctx.artifacts / "predictions.jsonl", lines);
  const nlohmann::json& primary = by_scoring[name(c.scorings.front())];
  // Text perplexity of the tuned LLM (adapters included) on the held-out corpus.
  const data::Corpus corpus = data::make_corpus(setup.pre.corpus);
  const engine::Tensor val = setup.tok.pack(corpus.val, setup.pre.train.seq_len);
  const double text_loss = evaluate_lm(model->llm(), val, setup.pre.train.batch_size, c.text_batches);
  // Recall after tuning, on the probes pretrain_llm and calibrate score the
  // base with (same config and seed): SynthSQA accuracy does not see the
  // facts quantization destroys, this does.
  // (An imported LLaVA's world has no knowledge base of ours.)
  std::optional<RecallResult> recall;
  const std::vector<data::RecallProbe> probes = make_recall_probes(setup.pre.corpus, setup.pre.probes, ctx.seed);
  if (!probes.empty() && setup.tok.is_own()) {
    recall = evaluate_recall(model->llm(), setup.tok.own_tokenizer(), probes, 4 * setup.pre.probes.batch_size);
  }

  const nlohmann::json& tuned = ctx.upstream_results.at("instruct");
  nlohmann::json results{{"accuracy", primary.at("accuracy")},
                         {"counts", primary.at("counts")},
                         {"malformed", primary.at("malformed")},
                         {"scoring", name(c.scorings.front())},
                         {"by_scoring", by_scoring},
                         {"target", data::name(setup.llava.target)},
                         {"questions", n},
                         {"chance", chance},
                         {"text_ppl", std::exp(text_loss)},
                         {"recall_pct", recall ? nlohmann::json(100.0 * recall->accuracy) : nlohmann::json()},
                         {"recall_chance_pct", recall ? nlohmann::json(100.0 * recall->chance) : nlohmann::json()},
                         {"trainable_params", tuned.at("trainable_params")},
                         {"trainable_params_m", tuned.at("trainable_params").get<double>() / 1e6},
                         {"peak_memory_mb", tuned.at("peak_memory_mb")},
                         {"tune_seconds", tuned.at("seconds")},
                         {"tokens_per_second", tuned.at("tokens_per_second")},
                         {"llm_weight_mb", tuned.at("llm_weight_mb")},
                         {"eval_seconds", eval_seconds}};
  log.line(fmt::format("[evaluate] text ppl {:.3f}", std::exp(text_loss)));
  if (recall) {
    log.line(fmt::format("[evaluate] recall {:.1f}% of {} fact probes (chance {:.1f}%)", 100.0 * recall->accuracy,
                         recall->probes, 100.0 * recall->chance));
  }
  return results;
}

}  // namespace

StageDef evaluate_stage() {
  return {"evaluate", "SynthSQA accuracy by column, text perplexity and tuning costs",
          [](ConfigSection& s) { read_config(s); }, run, {"method", "llava", "sqa"}};
}

}  // namespace qs::experiments
