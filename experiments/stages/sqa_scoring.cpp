#include "experiments/stages/sqa_scoring.h"

#include <algorithm>
#include <numeric>
#include <span>

#include "autograd/var.h"
#include "engine/ops.h"
#include "vision/preprocess.h"

namespace qs::experiments {

namespace e = qs::engine;

Scoring parse_scoring(const std::string& name) {
  if (name == "generate") return Scoring::generate;
  if (name == "likelihood") return Scoring::likelihood;
  if (name == "likelihood_mean") return Scoring::likelihood_mean;
  fail("unknown scoring '{}' (expected generate, likelihood or likelihood_mean)", name);
}

std::string name(Scoring s) {
  switch (s) {
    case Scoring::generate: return "generate";
    case Scoring::likelihood: return "likelihood";
    case Scoring::likelihood_mean: return "likelihood_mean";
  }
  return "?";
}

namespace {

const std::string kMarker = "The answer is";

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// LEA: what the model wrote before answering ("Answer: {lecture}
// {explanation}"); all of it when it never got to "The answer is".
std::string rationale_of(const std::string& generation) {
  const std::size_t at = generation.find(kMarker);
  return trimmed(at == std::string::npos ? generation : generation.substr(0, at));
}

// Greedy continuations of the questions' prompts, several per forward pass
// (prompts of similar length together, left-padded).
std::vector<std::string> generate_texts(nn::Llava& model, const data::SqaSplit& split, const std::vector<int64_t>& indices,
                                        const MultimodalSetup& setup, const ScoringOptions& o) {
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t i : indices) {
    const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(i)];
    prompts.push_back(setup.tok.prompt(sqa_conversation(q, setup.llava), data::Template::v1, setup.image_tokens()));
  }
  std::vector<std::size_t> order(indices.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return prompts[a].size() < prompts[b].size(); });
  nn::GenerateOptions gen;
  gen.max_new_tokens = o.max_new_tokens;
  gen.eos_id = setup.tok.eos_id();
  std::vector<std::string> out(indices.size());
  for (std::size_t first = 0; first < order.size(); first += static_cast<std::size_t>(o.batch_questions)) {
    const std::size_t last = std::min(order.size(), first + static_cast<std::size_t>(o.batch_questions));
    std::vector<std::vector<int64_t>> batch;
    std::vector<e::Tensor> images;
    std::vector<int64_t> image_of_sample;
    for (std::size_t k = first; k < last; ++k) {
      batch.push_back(prompts[order[k]]);
      const e::Tensor image = split_image(split, indices[order[k]]);
      if (image.defined()) {
        image_of_sample.push_back(static_cast<int64_t>(images.size()));
        images.push_back(image);
      }
    }
    const auto produced =
        model.generate_batch(batch, images.empty() ? e::Tensor() : normalized_images(images), image_of_sample, gen);
    for (std::size_t k = first; k < last; ++k) out[order[k]] = setup.tok.decode(produced[k - first]);
  }
  return out;
}

// One question's choice rows and the token prefix they all share.
struct Prepared {
  std::size_t slot;  // index into the questions asked for
  std::vector<data::Encoded> rows;
  std::size_t prefix = 0;
  bool cut = false;
  std::string rationale;
  e::Tensor image;
};

struct AnswerLogps {
  std::vector<double> sums;     // per choice: summed log-probability of its answer tokens
  std::vector<int64_t> tokens;  // per choice: how many tokens that sums
};

// Each question's shared prefix runs once (left-padded to a common end,
// padded keys masked; RoPE attends by relative position), its keys and
// values cached; then every choice's remaining tokens run against its
// question's cache.
std::vector<AnswerLogps> answer_logps(nn::Llava& model, std::span<const Prepared> batch) {
  autograd::NoGrad no_grad;
  const int64_t nq = static_cast<int64_t>(batch.size());
  int64_t width = 0, suffix_width = 0, n_rows = 0;
  for (const Prepared& p : batch) {
    width = std::max<int64_t>(width, static_cast<int64_t>(p.prefix));
    for (const data::Encoded& r : p.rows) {
      suffix_width = std::max<int64_t>(suffix_width, static_cast<int64_t>(r.ids.size() - p.prefix));
      ++n_rows;
    }
  }
  // The prefixes, left-padded to `width`, with logits at their last position.
  e::Tensor ids({nq, width}, e::DType::i64), pad({nq, width}, e::DType::u8);
  std::vector<e::Tensor> images;
  std::vector<int64_t> last_rows;
  for (int64_t i = 0; i < nq; ++i) {
    const Prepared& p = batch[static_cast<std::size_t>(i)];
    const int64_t lead = width - static_cast<int64_t>(p.prefix);
    for (int64_t j = 0; j < width; ++j) {
      ids.data<int64_t>()[i * width + j] = j < lead ? data::Tokenizer::kPad : p.rows.front().ids[static_cast<std::size_t>(j - lead)];
      pad.data<uint8_t>()[i * width + j] = j < lead ? 1 : 0;
    }
    if (p.rows.front().has_image) images.push_back(p.image);
    last_rows.push_back(i * width + width - 1);
  }
  std::vector<nn::KVCache> caches(static_cast<std::size_t>(model.llm().config().n_layers));
  nn::LlmForward f;
  f.caches = &caches;
  f.key_padding = pad;
  f.logit_rows = e::from_vector(last_rows);
  const e::Tensor first_logp =
      e::log_softmax(model.forward(ids, images.empty() ? e::Tensor() : normalized_images(images), f).logits.data())
          .to(e::Device::cpu()).to(e::DType::f64).contiguous();
  // Every choice row continues its question's cache with its own tokens.
  std::vector<int64_t> question_of_row;
  e::Tensor suffix({n_rows, suffix_width}, e::DType::i64), suffix_pad({n_rows, width + suffix_width}, e::DType::u8);
  std::vector<int64_t> scored_rows;
  {
    int64_t r = 0;
    for (int64_t i = 0; i < nq; ++i) {
      const Prepared& p = batch[static_cast<std::size_t>(i)];
      for (const data::Encoded& row : p.rows) {
        const int64_t len = static_cast<int64_t>(row.ids.size() - p.prefix);
        for (int64_t j = 0; j < width; ++j) suffix_pad.data<uint8_t>()[r * (width + suffix_width) + j] = pad.data<uint8_t>()[i * width + j];
        for (int64_t u = 0; u < suffix_width; ++u) {
          suffix.data<int64_t>()[r * suffix_width + u] = u < len ? row.ids[p.prefix + static_cast<std::size_t>(u)] : data::Tokenizer::kPad;
          suffix_pad.data<uint8_t>()[r * (width + suffix_width) + width + u] = u < len ? 0 : 1;
          if (u + 1 < len) scored_rows.push_back(r * suffix_width + u);
        }
        question_of_row.push_back(i);
        ++r;
      }
    }
  }
  const e::Tensor rows_of = e::from_vector(question_of_row);
  for (nn::KVCache& c : caches) {
    c.k = e::index_select(c.k, 0, rows_of.to(c.k.device()));
    c.v = e::index_select(c.v, 0, rows_of.to(c.v.device()));
  }
  e::Tensor rest_logp;
  if (!scored_rows.empty()) {
    nn::LlmForward g;
    g.caches = &caches;
    g.key_padding = suffix_pad;
    g.logit_rows = e::from_vector(scored_rows);
    rest_logp = e::log_softmax(model.forward(suffix, e::Tensor(), g).logits.data()).to(e::Device::cpu()).to(e::DType::f64).contiguous();
  }
  const int64_t v = first_logp.size(-1);
  std::vector<AnswerLogps> out(batch.size());
  int64_t next_scored = 0;
  for (int64_t i = 0; i < nq; ++i) {
    const Prepared& p = batch[static_cast<std::size_t>(i)];
    for (const data::Encoded& row : p.rows) {
      const int64_t len = static_cast<int64_t>(row.ids.size() - p.prefix);
      double total = 0.0;
      int64_t n = 0;
      for (int64_t u = 0; u < len; ++u) {
        // Token u of the suffix: from the prefix's last position, or from suffix position u - 1.
        const std::size_t at = p.prefix + static_cast<std::size_t>(u);
        const double lp = u == 0 ? first_logp.data<double>()[i * v + row.ids[at]]
                                 : rest_logp.data<double>()[(next_scored + u - 1) * v + row.ids[at]];
        if (row.labels[at] != data::kIgnore) {
          total += lp;
          ++n;
        }
      }
      next_scored += std::max<int64_t>(len - 1, 0);
      out[static_cast<std::size_t>(i)].sums.push_back(total);
      out[static_cast<std::size_t>(i)].tokens.push_back(n);
    }
  }
  return out;
}

}  // namespace

std::vector<data::Encoded> choice_rows(const data::SqaQuestion& q, const MultimodalSetup& setup,
                                       const std::string& rationale, bool& truncated) {
  std::vector<data::Encoded> rows;
  truncated = false;
  for (std::size_t i = 0; i < q.choices.size(); ++i) {
    data::SqaQuestion alt = q;
    alt.answer = static_cast<int64_t>(i);
    data::Conversation c = sqa_conversation(alt, setup.llava);
    if (setup.llava.target == data::AnswerTarget::lea) {
      const std::string answer = data::sqa_answer(alt, setup.llava.answer_format);
      c.turns.back().assistant = rationale.empty() ? answer : rationale + " " + answer;
    }
    rows.push_back(setup.tok.conversation(c, data::Template::v1, setup.image_tokens(), setup.llava.max_len));
    truncated = truncated || static_cast<int64_t>(rows.back().ids.size()) >= setup.llava.max_len;
  }
  // The answer tokens start where the choices' encodings first differ.
  std::size_t shared = rows.front().ids.size();
  for (const data::Encoded& r : rows) {
    std::size_t k = 0;
    while (k < shared && k < r.ids.size() && r.ids[k] == rows.front().ids[k]) ++k;
    shared = k;
  }
  for (data::Encoded& r : rows) std::fill(r.labels.begin(), r.labels.begin() + static_cast<std::ptrdiff_t>(shared), data::kIgnore);
  return rows;
}

QuestionScore rescored(const QuestionScore& s, Scoring scoring, const data::SqaQuestion& q, const MultimodalSetup& setup) {
  QS_CHECK(scoring != Scoring::generate && s.sums.size() == q.choices.size() && s.answer_tokens.size() == q.choices.size(),
           "rescored: needs a likelihood score with one sum per choice");
  QuestionScore r = s;
  r.scores = s.sums;
  if (scoring == Scoring::likelihood_mean) {
    for (std::size_t c = 0; c < r.scores.size(); ++c) {
      if (r.answer_tokens[c] > 0) r.scores[c] /= static_cast<double>(r.answer_tokens[c]);
    }
  }
  r.picked.reset();
  if (r.scorable) r.picked = std::max_element(r.scores.begin(), r.scores.end()) - r.scores.begin();
  data::SqaQuestion chosen = q;
  chosen.answer = r.picked.value_or(q.answer);
  const std::string answer = data::sqa_answer(chosen, setup.llava.answer_format);
  r.text = r.rationale.empty() ? answer : r.rationale + " " + answer;
  if (!r.scorable) r.text = "(cut at llava.max_len: not scored) " + r.text;
  return r;
}

nlohmann::json to_json(const QuestionScore& r) {
  return {{"picked", r.picked ? nlohmann::json(*r.picked) : nlohmann::json()},
          {"text", r.text},
          {"scores", r.scores},
          {"sums", r.sums},
          {"answer_tokens", r.answer_tokens},
          {"rationale", r.rationale},
          {"scorable", r.scorable}};
}

QuestionScore question_score_from_json(const nlohmann::json& j) {
  QuestionScore r;
  if (!j.at("picked").is_null()) r.picked = j.at("picked").get<int64_t>();
  r.text = j.at("text").get<std::string>();
  r.scores = j.at("scores").get<std::vector<double>>();
  r.sums = j.at("sums").get<std::vector<double>>();
  r.answer_tokens = j.at("answer_tokens").get<std::vector<int64_t>>();
  r.rationale = j.at("rationale").get<std::string>();
  r.scorable = j.at("scorable").get<bool>();
  return r;
}

std::vector<QuestionScore> score_questions(nn::Llava& model, const data::SqaSplit& split,
                                           const std::vector<int64_t>& indices, const MultimodalSetup& setup,
                                           const ScoringOptions& o) {
  QS_CHECK(o.batch_questions > 0 && o.max_new_tokens > 0, "score_questions: batch_questions and max_new_tokens must be positive");
  std::vector<QuestionScore> out(indices.size());
  const bool lea = setup.llava.target == data::AnswerTarget::lea;
  if (o.scoring == Scoring::generate || lea) {
    const std::vector<std::string> texts =
        o.generations ? *o.generations : generate_texts(model, split, indices, setup, o);
    QS_CHECK(texts.size() == indices.size(), "score_questions: {} generations for {} questions", texts.size(), indices.size());
    for (std::size_t k = 0; k < indices.size(); ++k) {
      const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(indices[k])];
      out[k].text = texts[k];
      if (o.scoring == Scoring::generate) out[k].picked = data::parse_answer(texts[k], q.choices, setup.llava.answer_format);
      out[k].rationale = rationale_of(texts[k]);
    }
    if (o.scoring == Scoring::generate) return out;
  }
  // Questions of similar prefix length go together (less padding).
  std::vector<Prepared> prepared;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(indices[k])];
    Prepared p;
    p.slot = k;
    p.image = split_image(split, indices[k]);
    p.rationale = out[k].rationale;
    p.rows = choice_rows(q, setup, p.rationale, p.cut);
    while (p.prefix < p.rows.front().labels.size() && p.rows.front().labels[p.prefix] == data::kIgnore) ++p.prefix;
    prepared.push_back(std::move(p));
  }
  std::stable_sort(prepared.begin(), prepared.end(),
                   [](const Prepared& a, const Prepared& b) { return a.prefix < b.prefix; });
  // A batch pads every prefix to its longest and every choice to its longest
  // suffix, so the padded length can pass the LLM's positions even when each
  // question fits (LEA: a long rationale beside long choices); such a batch
  // closes early.
  const auto suffix_of = [](const Prepared& p) {
    std::size_t n = 0;
    for (const data::Encoded& r : p.rows) n = std::max(n, r.ids.size() - p.prefix);
    return n;
  };
  const auto positions = static_cast<std::size_t>(model.llm().config().max_seq_len);
  for (std::size_t first = 0, last = 0; first < prepared.size(); first = last) {
    std::size_t prefix = 0, suffix = 0;
    for (last = first; last < prepared.size() && last - first < static_cast<std::size_t>(o.batch_questions); ++last) {
      const std::size_t p = std::max(prefix, prepared[last].prefix), q = std::max(suffix, suffix_of(prepared[last]));
      if (last > first && p + q > positions) break;
      prefix = p;
      suffix = q;
    }
    const std::span<const Prepared> batch(prepared.data() + first, last - first);
    const std::vector<AnswerLogps> logps = answer_logps(model, batch);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const Prepared& p = batch[i];
      QuestionScore& s = out[p.slot];
      s.sums = logps[i].sums;
      s.answer_tokens = logps[i].tokens;
      s.rationale = p.rationale;
      s.scorable = !p.cut && std::all_of(s.answer_tokens.begin(), s.answer_tokens.end(), [](int64_t n) { return n > 0; });
      s = rescored(s, o.scoring, split.questions[static_cast<std::size_t>(indices[p.slot])], setup);
    }
  }
  return out;
}

}  // namespace qs::experiments

