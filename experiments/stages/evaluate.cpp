// Stage evaluate: SynthSQA test accuracy per column (NAT SOC LAN TXT IMG NO
// G1-6 G7-12 Avg) by greedy decoding and answer parsing (a malformed
// generation counts as wrong) or, with scoring: likelihood, by the choice
// whose full answer the model finds most likely (how small LMs are usually
// scored on multiple choice: nothing is malformed, and the text answer format
// is measured without asking a tiny model to spell an option exactly); text
// perplexity of the tuned LLM on the held-out corpus, and the tuning costs
// reported by instruct.
// Outputs: predictions.jsonl (every question, generation and verdict), results.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include "data/lm_dataset.h"
#include "engine/io/atomic_file.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "experiments/json_text.h"
#include "experiments/stages/lm_training.h"
#include "experiments/stages/multimodal.h"
#include "experiments/table.h"
#include "vision/preprocess.h"

namespace qs::experiments {

namespace {

struct EvalConfig {
  int64_t questions = 0;  // 0: the whole test split
  int64_t max_new_tokens = 8;
  int64_t text_batches = 16;
  std::string split = "test";
  std::string scoring = "generate";  // or "likelihood"
};

EvalConfig read_config(ConfigSection& s) {
  EvalConfig c;
  c.questions = s.get<int64_t>("questions", c.questions);
  c.max_new_tokens = s.get<int64_t>("max_new_tokens", c.max_new_tokens);
  c.text_batches = s.get<int64_t>("text_batches", c.text_batches);
  c.split = s.get<std::string>("split", c.split);
  QS_CHECK(c.split == "test" || c.split == "val", "config {}: '{}' must be test or val", s.file(), s.path_of("split"));
  c.scoring = s.get<std::string>("scoring", c.scoring);
  QS_CHECK(c.scoring == "generate" || c.scoring == "likelihood", "config {}: '{}' is '{}' (expected generate or likelihood)",
           s.file(), s.path_of("scoring"), c.scoring);
  QS_CHECK(c.questions >= 0 && c.max_new_tokens > 0 && c.text_batches > 0,
           "config {}: '{}' needs questions >= 0, max_new_tokens > 0, text_batches > 0", s.file(), s.path_of(""));
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

// Log-likelihood of each choice's answer after the prompt (the sum over the
// answer's tokens: "The answer is <choice>." and the end of the turn), from
// one batch holding the question once per choice.
std::vector<double> choice_log_likelihoods(nn::Llava& model, const data::SqaQuestion& q, const engine::Tensor& image,
                                           const MultimodalSetup& setup) {
  std::vector<Sample> samples;
  for (std::size_t i = 0; i < q.choices.size(); ++i) {
    data::SqaQuestion alt = q;
    alt.answer = static_cast<int64_t>(i);
    samples.push_back({data::encode_conversation(sqa_conversation(alt, setup.llava), data::Template::v1, setup.tok,
                                                 setup.image_tokens(), setup.llava.max_len),
                       image});
  }
  const ModelBatch b = make_batch(samples);
  const engine::Tensor ll = model.sequence_log_likelihood(b.batch.ids, b.images, b.batch.targets, data::kIgnore);
  return std::vector<double>(ll.data<double>(), ll.data<double>() + ll.numel());
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
  std::map<std::string, std::pair<int64_t, int64_t>> tally;  // column -> (correct, total)
  int64_t malformed = 0;
  double chance = 0.0;  // expected accuracy of a uniform guess
  std::string predictions;
  vision::PreprocessConfig pre;
  pre.size = setup.vit.image_size;
  nn::GenerateOptions gen;
  gen.max_new_tokens = c.max_new_tokens;
  gen.eos_id = data::Tokenizer::kEos;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) {
    const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(i)];
    const engine::Tensor raw = split_image(split, i);
    std::string text;
    std::optional<int64_t> picked;
    nlohmann::json scores;
    if (c.scoring == "likelihood") {
      const std::vector<double> ll = choice_log_likelihoods(*model, q, raw, setup);
      picked = std::max_element(ll.begin(), ll.end()) - ll.begin();
      data::SqaQuestion chosen = q;
      chosen.answer = *picked;
      text = data::sqa_answer(chosen, setup.llava.answer_format);
      scores = ll;
    } else {
      const std::vector<int64_t> prompt =
          data::encode_prompt(sqa_conversation(q, setup.llava), data::Template::v1, setup.tok, setup.image_tokens());
      engine::Tensor image = raw;
      if (image.defined()) image = vision::normalize_batch(image.unsqueeze(0).contiguous(), pre);
      text = setup.tok.decode(model->generate(prompt, image, gen), /*skip_special=*/true);
      picked = data::parse_answer(text, q.choices, setup.llava.answer_format);
    }
    const bool correct = picked && *picked == q.answer;
    malformed += !picked;
    chance += 100.0 / static_cast<double>(q.choices.size()) / static_cast<double>(n);
    for (const std::string& col : {data::name(q.subject), data::name(q.context_type), data::name(q.grade), std::string("Avg")}) {
      tally[col].first += correct;
      tally[col].second += 1;
    }
    predictions += json_line(nlohmann::json{{"index", i}, {"kind", q.kind}, {"answer", q.answer}, {"generation", text},
                                  {"parsed", picked ? nlohmann::json(*picked) : nlohmann::json()}, {"correct", correct},
                                  {"scores", scores}}) + "\n";
    log.progress("evaluate", i + 1, n, 0.0, 0.0,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const double eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  engine::write_file_atomically(ctx.artifacts / "predictions.jsonl", predictions);
  nlohmann::json accuracy, counts;
  for (const std::string& col : accuracy_columns()) {
    auto it = tally.find(col);
    accuracy[col] = it == tally.end() ? nlohmann::json() : nlohmann::json(100.0 * it->second.first / it->second.second);
    counts[col] = it == tally.end() ? 0 : it->second.second;
  }
  // Text perplexity of the tuned LLM (adapters included) on the held-out corpus.
  const data::Corpus corpus = data::make_corpus(setup.pre.corpus);
  const engine::Tensor val = data::pack_sequences(corpus.val, setup.tok, setup.pre.train.seq_len);
  const double text_loss = evaluate_lm(model->llm(), val, setup.pre.train.batch_size, c.text_batches);

  const nlohmann::json& tuned = ctx.upstream_results.at("instruct");
  nlohmann::json results{{"accuracy", accuracy},
                         {"counts", counts},
                         {"questions", n},
                         {"malformed", malformed},
                         {"chance", chance},
                         {"text_ppl", std::exp(text_loss)},
                         {"trainable_params", tuned.at("trainable_params")},
                         {"trainable_params_m", tuned.at("trainable_params").get<double>() / 1e6},
                         {"peak_memory_mb", tuned.at("peak_memory_mb")},
                         {"tune_seconds", tuned.at("seconds")},
                         {"tokens_per_second", tuned.at("tokens_per_second")},
                         {"llm_weight_mb", tuned.at("llm_weight_mb")},
                         {"eval_seconds", eval_seconds}};
  std::string line = fmt::format("[evaluate] {}:", setup.method.label());
  for (const std::string& col : accuracy_columns()) {
    line += accuracy[col].is_null() ? fmt::format(" {} -", col) : fmt::format(" {} {:.1f}", col, accuracy[col].get<double>());
  }
  log.line(line + fmt::format("  ({} questions, {} malformed, chance {:.1f}; text ppl {:.3f})", n, malformed, chance,
                              std::exp(text_loss)));
  return results;
}

}  // namespace

StageDef evaluate_stage() {
  return {"evaluate", "SynthSQA accuracy by column, text perplexity and tuning costs",
          [](ConfigSection& s) { read_config(s); }, run, {"method", "llava", "sqa"}};
}

}  // namespace qs::experiments
