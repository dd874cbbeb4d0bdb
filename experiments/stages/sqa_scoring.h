#pragma once
// How a tuned model answers SynthSQA questions, three ways:
//   generate         greedy decoding, then parsing "The answer is X." (the
//                    paper's protocol; a malformed generation counts wrong);
//   likelihood       the choice whose answer tokens have the highest summed
//                    log-probability;
//   likelihood_mean  the same with the mean log-probability per answer token
//                    (length-normalised: long options are not penalised for
//                    their length).
// The answer tokens of a choice are those after the longest token prefix all
// choices share ("The answer is" and any common first words), up to and
// including the end of the turn. With llava.target: lea the model first
// writes its lecture and explanation: likelihood scoring generates that
// rationale greedily, then scores each choice's "The answer is X." after it.
// Likelihood scoring packs the choices of several questions into one
// forward pass and runs the vision encoder once per question.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "experiments/stages/multimodal.h"

namespace qs::experiments {

enum class Scoring { generate, likelihood, likelihood_mean };
Scoring parse_scoring(const std::string& name);  // errors name the accepted values
std::string name(Scoring s);

struct ScoringOptions {
  Scoring scoring = Scoring::likelihood;
  int64_t batch_questions = 16;  // questions per forward pass
  int64_t max_new_tokens = 8;    // generation, and LEA's rationale
  // LEA + likelihood: the generations to take each rationale from (one per
  // question, e.g. from a generate pass over the same questions); when
  // null, they are generated.
  const std::vector<std::string>* generations = nullptr;
};

struct QuestionScore {
  std::optional<int64_t> picked;     // nullopt: malformed (counts as wrong)
  std::string text;                  // the generation, or the picked choice's answer turn
  std::vector<double> scores;        // per choice (likelihood scorings); empty for generate
  std::vector<double> sums;          // per choice: summed log-probability of its answer tokens
  std::vector<int64_t> answer_tokens;  // per choice: how many tokens were scored
  std::string rationale;             // LEA: the generated text before "The answer is"
  bool scorable = true;              // false when max_len cut a choice's answer
};

// A score as JSON and back (exactly: doubles round-trip), to gather the
// ranks' shares of an evaluation.
nlohmann::json to_json(const QuestionScore& score);
QuestionScore question_score_from_json(const nlohmann::json& j);

// Scores split.questions[i] for each i in `indices`, in order.
std::vector<QuestionScore> score_questions(nn::Llava& model, const data::SqaSplit& split,
                                           const std::vector<int64_t>& indices, const MultimodalSetup& setup,
                                           const ScoringOptions& options);

// A likelihood score under the other likelihood scoring (sum <-> mean per
// token), from the same forward pass: the pick follows the new scores.
QuestionScore rescored(const QuestionScore& s, Scoring scoring, const data::SqaQuestion& q, const MultimodalSetup& setup);

// The choices of one question as scoring rows: the conversation with each
// choice's answer turn (after `rationale`, LEA's generated text before "The
// answer is", when not empty), labels masked outside the answer tokens.
// Rows that max_len cut are reported through `truncated`.
std::vector<data::Encoded> choice_rows(const data::SqaQuestion& q, const MultimodalSetup& setup,
                                       const std::string& rationale, bool& truncated);

}  // namespace qs::experiments
