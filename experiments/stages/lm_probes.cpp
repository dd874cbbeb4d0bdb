#include "experiments/stages/lm_probes.h"

#include <cmath>

#include "autograd/functions.h"
#include "data/lm_dataset.h"
#include "engine/ops.h"
#include "experiments/stages/lm_training.h"

namespace qs::experiments {

namespace e = qs::engine;

RecallResult evaluate_recall(nn::Llama& model, const data::Tokenizer& tok, const std::vector<data::RecallProbe>& probes,
                             int64_t batch_size) {
  QS_CHECK(batch_size > 0, "evaluate_recall: batch_size must be positive, got {}", batch_size);
  // One sequence per (probe, candidate): "<s> prefix" then the completion's
  // tokens, scored only where the completion is the target.
  struct Item {
    std::vector<int64_t> ids;
    int64_t first_scored = 0;  // index in ids of the first completion token
  };
  std::vector<Item> items;
  std::vector<std::size_t> first_item;
  for (const data::RecallProbe& p : probes) {
    first_item.push_back(items.size());
    std::vector<int64_t> prefix{data::Tokenizer::kBos};
    for (int64_t id : tok.encode(p.prefix)) prefix.push_back(id);
    for (const std::string& c : p.completions) {
      Item it{prefix, static_cast<int64_t>(prefix.size())};
      for (int64_t id : tok.encode(c)) it.ids.push_back(id);
      items.push_back(std::move(it));
    }
  }
  std::vector<double> score(items.size(), 0.0);
  const int64_t max_len = model.config().max_seq_len;
  for (std::size_t start = 0; start < items.size(); start += static_cast<std::size_t>(batch_size)) {
    const std::size_t end = std::min(items.size(), start + static_cast<std::size_t>(batch_size));
    int64_t t = 0;
    for (std::size_t i = start; i < end; ++i) t = std::max<int64_t>(t, static_cast<int64_t>(items[i].ids.size()) - 1);
    QS_CHECK(t <= max_len, "evaluate_recall: a probe of {} tokens exceeds the model's max_seq_len {}", t, max_len);
    const int64_t b = static_cast<int64_t>(end - start);
    e::Tensor ids = e::full({b, t}, static_cast<double>(data::Tokenizer::kPad), e::DType::i64);
    e::Tensor targets = e::full({b, t}, -100.0, e::DType::i64);
    int64_t* ip = ids.data<int64_t>();
    int64_t* tp = targets.data<int64_t>();
    for (std::size_t i = start; i < end; ++i) {
      const Item& it = items[i];
      const int64_t row = static_cast<int64_t>(i - start), n = static_cast<int64_t>(it.ids.size());
      for (int64_t k = 0; k + 1 < n; ++k) {
        ip[row * t + k] = it.ids[static_cast<std::size_t>(k)];
        if (k + 1 >= it.first_scored) tp[row * t + k] = it.ids[static_cast<std::size_t>(k + 1)];
      }
    }
    const e::Tensor ll = model.sequence_log_likelihood(ids, targets);
    const double* lp = ll.data<double>();
    for (int64_t r = 0; r < b; ++r) score[start + static_cast<std::size_t>(r)] = lp[r];
  }
  RecallResult out;
  std::map<std::string, std::pair<int64_t, int64_t>> per;  // attribute -> (right, total)
  for (std::size_t p = 0; p < probes.size(); ++p) {
    const auto& probe = probes[p];
    const std::size_t base = first_item[p];
    int64_t best = 0;
    for (std::size_t c = 1; c < probe.completions.size(); ++c) {
      if (score[base + c] > score[base + static_cast<std::size_t>(best)]) best = static_cast<int64_t>(c);
    }
    const bool right = best == probe.answer;
    out.accuracy += right ? 1.0 : 0.0;
    out.chance += 1.0 / static_cast<double>(probe.completions.size());
    auto& [r, n] = per[data::name(probe.fact.attribute)];
    r += right ? 1 : 0;
    ++n;
  }
  out.probes = static_cast<int64_t>(probes.size());
  if (out.probes > 0) {
    out.accuracy /= static_cast<double>(out.probes);
    out.chance /= static_cast<double>(out.probes);
  }
  for (auto& [a, rn] : per) out.by_attribute[a] = static_cast<double>(rn.first) / static_cast<double>(rn.second);
  return out;
}

ProbeConfig read_probe_config(ConfigSection s) {
  ProbeConfig c;
  c.recall_probes = s.get<int64_t>("recall_probes", c.recall_probes);
  c.recall_choices = s.get<int64_t>("recall_choices", c.recall_choices);
  c.eval_batches = s.get<int64_t>("eval_batches", c.eval_batches);
  c.batch_size = s.get<int64_t>("batch_size", c.batch_size);
  s.finish();
  QS_CHECK(c.recall_probes >= 0, "config {}: '{}' must be >= 0, got {}", s.file(), s.path_of("recall_probes"),
           c.recall_probes);
  QS_CHECK(c.recall_choices >= 2 && c.recall_choices <= 8, "config {}: '{}' must be in 2..8, got {}", s.file(),
           s.path_of("recall_choices"), c.recall_choices);
  QS_CHECK(c.eval_batches > 0 && c.batch_size > 0, "config {}: '{}' and '{}' must be positive", s.file(),
           s.path_of("eval_batches"), s.path_of("batch_size"));
  return c;
}

TextProbes make_text_probes(const data::Corpus& corpus, const data::CorpusConfig& cc, const data::Tokenizer& tok,
                            int64_t seq_len, const ProbeConfig& config, uint64_t seed) {
  TextProbes p;
  p.config = config;
  // Rows at an even stride, as many as the perplexity reads: the held-out
  // text lists its sources one after another (shape world, then creature
  // profiles), and the first rows alone would measure only the first.
  const int64_t rows = config.eval_batches * config.batch_size;
  auto spread = [&](const e::Tensor& packed) {
    const int64_t n = packed.size(0);
    if (n <= rows) return packed;
    std::vector<int64_t> pick;
    for (int64_t i = 0; i < rows; ++i) pick.push_back(i * n / rows);
    return e::index_select(packed, 0, e::from_vector(pick));
  };
  p.world = spread(data::pack_sequences(corpus.val, tok, seq_len));
  if (!corpus.val_english.empty()) p.english = spread(data::pack_sequences(corpus.val_english, tok, seq_len));
  p.recall = make_recall_probes(cc, config, seed);
  return p;
}

std::vector<data::RecallProbe> make_recall_probes(const data::CorpusConfig& cc, const ProbeConfig& config,
                                                  uint64_t seed) {
  if (cc.entities.count <= 0 || config.recall_probes <= 0) return {};
  data::EntityConfig ec = cc.entities;
  ec.seed = cc.seed;
  return data::make_recall_probes(data::KnowledgeBase(ec), config.recall_probes, config.recall_choices, seed);
}

TextScores score_text(nn::Llama& model, const data::Tokenizer& tok, const TextProbes& p) {
  TextScores s;
  s.world_ppl = std::exp(evaluate_lm(model, p.world, p.config.batch_size, p.config.eval_batches));
  if (p.english.defined()) s.english_ppl = std::exp(evaluate_lm(model, p.english, p.config.batch_size, p.config.eval_batches));
  if (!p.recall.empty()) s.recall = evaluate_recall(model, tok, p.recall, 4 * p.config.batch_size);
  return s;
}

nlohmann::json TextScores::json() const {
  nlohmann::json j{{"world_ppl", world_ppl}, {"english_ppl", nullptr}, {"recall", nullptr},
                   {"recall_chance", nullptr}, {"recall_by_attribute", nullptr}};
  if (english_ppl) j["english_ppl"] = *english_ppl;
  if (recall) {
    j["recall"] = recall->accuracy;
    j["recall_chance"] = recall->chance;
    j["recall_by_attribute"] = recall->by_attribute;
  }
  return j;
}

std::string TextScores::summary() const {
  std::string s = fmt::format("world ppl {:.3f}", world_ppl);
  if (english_ppl) s += fmt::format("  english ppl {:.2f}", *english_ppl);
  if (recall) s += fmt::format("  recall {:.1f}% (chance {:.1f}%)", 100 * recall->accuracy, 100 * recall->chance);
  return s;
}

}  // namespace qs::experiments
