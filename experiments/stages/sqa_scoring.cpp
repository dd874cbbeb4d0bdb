#include "experiments/stages/sqa_scoring.h"

#include <algorithm>

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

std::string generate_text(nn::Llava& model, const data::SqaQuestion& q, const e::Tensor& raw_image,
                          const MultimodalSetup& setup, int64_t max_new_tokens) {
  const std::vector<int64_t> prompt =
      data::encode_prompt(sqa_conversation(q, setup.llava), data::Template::v1, setup.tok, setup.image_tokens());
  e::Tensor image;
  if (raw_image.defined()) image = normalized_images({raw_image});
  nn::GenerateOptions gen;
  gen.max_new_tokens = max_new_tokens;
  gen.eos_id = data::Tokenizer::kEos;
  return setup.tok.decode(model.generate(prompt, image, gen), /*skip_special=*/true);
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
    rows.push_back(data::encode_conversation(c, data::Template::v1, setup.tok, setup.image_tokens(), setup.llava.max_len));
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

std::vector<QuestionScore> score_questions(nn::Llava& model, const data::SqaSplit& split,
                                           const std::vector<int64_t>& indices, const MultimodalSetup& setup,
                                           const ScoringOptions& o) {
  QS_CHECK(o.batch_questions > 0 && o.max_new_tokens > 0, "score_questions: batch_questions and max_new_tokens must be positive");
  std::vector<QuestionScore> out(indices.size());
  const bool lea = setup.llava.target == data::AnswerTarget::lea;
  if (o.scoring == Scoring::generate) {
    for (std::size_t k = 0; k < indices.size(); ++k) {
      const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(indices[k])];
      out[k].text = generate_text(model, q, split_image(split, indices[k]), setup, o.max_new_tokens);
      out[k].picked = data::parse_answer(out[k].text, q.choices, setup.llava.answer_format);
    }
    return out;
  }
  const bool mean = o.scoring == Scoring::likelihood_mean;
  for (std::size_t first = 0; first < indices.size(); first += static_cast<std::size_t>(o.batch_questions)) {
    const std::size_t last = std::min(indices.size(), first + static_cast<std::size_t>(o.batch_questions));
    std::vector<data::Encoded> rows;
    std::vector<e::Tensor> images;
    std::vector<int64_t> image_of_row;  // per row holding image tokens
    std::vector<std::size_t> first_row;
    std::vector<std::string> rationales(last - first);
    std::vector<bool> truncated(last - first);
    for (std::size_t k = first; k < last; ++k) {
      const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(indices[k])];
      const e::Tensor image = split_image(split, indices[k]);
      if (lea) rationales[k - first] = rationale_of(generate_text(model, q, image, setup, o.max_new_tokens));
      bool cut = false;
      std::vector<data::Encoded> choices = choice_rows(q, setup, rationales[k - first], cut);
      truncated[k - first] = cut;
      if (q.has_image) images.push_back(image);
      first_row.push_back(rows.size());
      for (data::Encoded& r : choices) {
        if (r.has_image) image_of_row.push_back(static_cast<int64_t>(images.size()) - 1);
        rows.push_back(std::move(r));
      }
    }
    first_row.push_back(rows.size());
    const data::Batch batch = data::collate(rows);
    const e::Tensor ll = model.sequence_log_likelihood(batch.ids, images.empty() ? e::Tensor() : normalized_images(images),
                                                       batch.targets, data::kIgnore, image_of_row);
    const double* lp = ll.data<double>();
    for (std::size_t k = first; k < last; ++k) {
      const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(indices[k])];
      QuestionScore& s = out[k];
      for (std::size_t r = first_row[k - first]; r < first_row[k - first + 1]; ++r) {
        const int64_t n = std::count_if(rows[r].labels.begin(), rows[r].labels.end(),
                                        [](int64_t l) { return l != data::kIgnore; });
        s.answer_tokens.push_back(n);
        s.scores.push_back(mean && n > 0 ? lp[r] / static_cast<double>(n) : lp[r]);
      }
      const bool scorable = !truncated[k - first] &&
                            std::all_of(s.answer_tokens.begin(), s.answer_tokens.end(), [](int64_t n) { return n > 0; });
      if (scorable) s.picked = std::max_element(s.scores.begin(), s.scores.end()) - s.scores.begin();
      data::SqaQuestion chosen = q;
      chosen.answer = s.picked.value_or(q.answer);
      const std::string answer = data::sqa_answer(chosen, setup.llava.answer_format);
      s.text = lea && !rationales[k - first].empty() ? rationales[k - first] + " " + answer : answer;
      if (!scorable) s.text = "(cut at llava.max_len: not scored) " + s.text;
    }
  }
  return out;
}

}  // namespace qs::experiments
