// SynthSQA scoring (experiments/stages/sqa_scoring.h) on a tiny random
// LLaVA: batched likelihood equals question-by-question likelihood, the
// vision encoder run once per question equals one run per choice, the
// per-token mean matches a hand computation from the logits, LEA targets
// train on the answer turn only, and malformed generations count as wrong.
#include <cmath>

#include "autograd/var.h"
#include "data/scienceqa.h"
#include "data/tokenizer.h"
#include "engine/ops.h"
#include "experiments/stages/sqa_scoring.h"
#include "interop/scienceqa_data.h"
#include "support.h"

using namespace qs::experiments;
namespace e = qs::engine;
namespace d = qs::data;

namespace {

const d::Tokenizer kBytes;  // bytes only: 261 ids; the setup speaks through it

MultimodalSetup tiny_setup(d::AnswerTarget target = d::AnswerTarget::answer) {
  MultimodalSetup s;
  s.tok = PipelineTokens::own(kBytes);
  s.pre.model.vocab_size = s.tok.vocab_size();
  s.pre.model.dim = 32;
  s.pre.model.n_layers = 2;
  s.pre.model.n_heads = 2;
  s.pre.model.ffn_hidden = 64;
  s.pre.model.max_seq_len = 1024;
  s.pre.model.init_std = 0.2;  // far from uniform, so choices score apart
  s.llm_weights = qs::nn::Llama(s.pre.model).state_dict();
  s.vit.image_size = 16;
  s.vit.patch_size = 8;
  s.vit.width = 16;
  s.vit.layers = 2;
  s.vit.heads = 2;
  s.vit_weights = qs::vision::VisionTransformer(s.vit).state_dict();
  s.method.preset = qs::experiments::Preset::lora;
  s.method.weights = qs::experiments::Weights::fp;
  s.method.scale_learning = false;
  s.method.warmup = false;
  s.llava.max_len = 1024;
  s.llava.system_prompt = "Hi.";
  s.llava.answer_format = d::AnswerFormat::text;
  s.llava.target = target;
  return s;
}

d::SqaSplit tiny_split() {
  d::SqaSplit split;
  const std::vector<std::vector<std::string>> choices{{"red", "blue"}, {"3", "4", "12"}, {"red circle", "red square", "star"},
                                                      {"a", "bb", "ccc", "dddd"}, {"yes", "no"}};
  for (std::size_t i = 0; i < choices.size(); ++i) {
    d::SqaQuestion q;
    q.question = fmt::format("Question {}?", i);
    q.choices = choices[i];
    q.answer = static_cast<int64_t>(i % choices[i].size());
    q.lecture = "Look.";
    q.explanation = fmt::format("It is {}.", choices[i][static_cast<std::size_t>(q.answer)]);
    q.has_image = i % 2 == 0;
    split.questions.push_back(q);
  }
  split.images = e::Tensor({3, 16, 16, 3}, e::DType::u8);
  uint8_t* px = split.images.data<uint8_t>();
  for (int64_t i = 0; i < split.images.numel(); ++i) px[i] = static_cast<uint8_t>((i * 37 + 11) % 251);
  split.image_index = {0, -1, 1, -1, 2};
  return split;
}

std::vector<int64_t> all_of(const d::SqaSplit& s) {
  std::vector<int64_t> v;
  for (std::size_t i = 0; i < s.questions.size(); ++i) v.push_back(static_cast<int64_t>(i));
  return v;
}

}  // namespace

// Batches left-pad each question's shared prefix to a common end: float32
// rounding then differs from the unpadded pass (RoPE angles of shifted
// positions), ~1e-6 relative; the picks are the same.
TEST_CASE("batched likelihood scoring equals question-by-question scoring, the encoder once per question") {
  const MultimodalSetup setup = tiny_setup();
  auto model = build_llava(setup, Phase::tune, "");
  const d::SqaSplit split = tiny_split();
  for (Scoring scoring : {Scoring::likelihood, Scoring::likelihood_mean}) {
    INFO(name(scoring));
    ScoringOptions one{scoring, 1, 8}, many{scoring, 4, 8};
    const auto a = score_questions(*model, split, all_of(split), setup, one);
    const auto b = score_questions(*model, split, all_of(split), setup, many);
    REQUIRE(a.size() == split.questions.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      REQUIRE(a[i].picked.has_value());
      CHECK(a[i].picked == b[i].picked);
      REQUIRE(a[i].scores.size() == split.questions[i].choices.size());
      for (std::size_t c = 0; c < a[i].scores.size(); ++c) CHECK(a[i].scores[c] == doctest::Approx(b[i].scores[c]).epsilon(1e-5));
    }
  }
  // likelihood_mean derived from the summed pass equals the mean pass.
  const auto sums = score_questions(*model, split, all_of(split), setup, {Scoring::likelihood, 4, 8});
  const auto means = score_questions(*model, split, all_of(split), setup, {Scoring::likelihood_mean, 4, 8});
  for (std::size_t i = 0; i < sums.size(); ++i) {
    const QuestionScore derived = rescored(sums[i], Scoring::likelihood_mean, split.questions[i], setup);
    CHECK(derived.picked == means[i].picked);
    CHECK(derived.text == means[i].text);
    for (std::size_t c = 0; c < derived.scores.size(); ++c) CHECK(derived.scores[c] == doctest::Approx(means[i].scores[c]).epsilon(1e-12));
  }
  // The direct path: every choice row whole, each with its own copy of the image.
  const d::SqaQuestion& q = split.questions[0];
  bool cut = false;
  std::vector<d::Encoded> rows = choice_rows(q, setup, "", cut);
  CHECK_FALSE(cut);
  std::vector<Sample> samples;
  for (auto& r : rows) samples.push_back({r, split_image(split, 0)});
  const ModelBatch batch = make_batch(samples);
  const e::Tensor ll = model->sequence_log_likelihood(batch.batch.ids, batch.images, batch.batch.targets, d::kIgnore);
  const auto scored = score_questions(*model, split, {0}, setup, {Scoring::likelihood, 1, 8});
  for (std::size_t c = 0; c < rows.size(); ++c) {
    CHECK(scored[0].scores[c] == doctest::Approx(ll.data<double>()[c]).epsilon(1e-5));
  }
}

// Each question fits the LLM's positions, but a batch pads prefixes to the
// longest and choices to the longest suffix: a long LEA rationale beside long
// choices overflowed (the study's recipe_sqa run stopped on "sequence of 259
// tokens exceeds max_seq_len 256"). Such a batch now splits.
TEST_CASE("LEA likelihood: a long rationale beside long choices splits the batch instead of overflowing") {
  MultimodalSetup setup = tiny_setup(d::AnswerTarget::lea);
  setup.pre.model.max_seq_len = 256;
  setup.llm_weights = qs::nn::Llama(setup.pre.model).state_dict();
  setup.llava.max_len = 256;
  auto model = build_llava(setup, Phase::tune, "");
  d::SqaSplit split = tiny_split();
  split.questions[3].choices = {std::string(40, 'p'), std::string(40, 'q')};
  split.questions[3].answer = 1;
  const std::string long_rationale = "Answer: " + std::string(140, 'r');
  std::vector<std::string> generations(split.questions.size(), "Answer: Look. The answer is");
  generations[1] = long_rationale + " The answer is";
  ScoringOptions one{Scoring::likelihood, 1, 8}, many{Scoring::likelihood, 8, 8};
  one.generations = many.generations = &generations;
  // Shared prefix and longest answer suffix of a question's choice rows.
  const auto lengths = [&](std::size_t q, const std::string& rationale) {
    bool cut = false;
    const std::vector<d::Encoded> rows = choice_rows(split.questions[q], setup, rationale, cut);
    REQUIRE_FALSE(cut);
    std::size_t prefix = 0, longest = 0;
    while (rows.front().labels[prefix] == d::kIgnore) ++prefix;
    for (const d::Encoded& r : rows) longest = std::max(longest, r.ids.size());
    return std::pair{prefix, longest - prefix};
  };
  const auto [prefix1, suffix1] = lengths(1, long_rationale);
  const auto [prefix3, suffix3] = lengths(3, "Answer: Look.");
  REQUIRE(prefix1 + suffix1 <= 256);
  REQUIRE(prefix3 + suffix3 <= 256);
  REQUIRE(std::max(prefix1, prefix3) + std::max(suffix1, suffix3) > 256);  // together they would not fit
  const auto a = score_questions(*model, split, all_of(split), setup, one);
  const auto b = score_questions(*model, split, all_of(split), setup, many);
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("question " << i);
    REQUIRE(a[i].picked.has_value());
    CHECK(a[i].picked == b[i].picked);
    for (std::size_t c = 0; c < a[i].scores.size(); ++c) CHECK(a[i].scores[c] == doctest::Approx(b[i].scores[c]).epsilon(1e-5));
  }
}

TEST_CASE("length-normalised likelihood is the mean log-probability of the answer tokens, by hand") {
  const MultimodalSetup setup = tiny_setup();
  auto model = build_llava(setup, Phase::tune, "");
  const d::SqaSplit split = tiny_split();
  const int64_t qi = 3;  // choices of 1-4 letters: lengths differ
  const d::SqaQuestion& q = split.questions[qi];
  const auto mean = score_questions(*model, split, {qi}, setup, {Scoring::likelihood_mean, 4, 8})[0];
  const auto sum = score_questions(*model, split, {qi}, setup, {Scoring::likelihood, 4, 8})[0];
  for (std::size_t c = 0; c < q.choices.size(); ++c) {
    d::SqaQuestion alt = q;
    alt.answer = static_cast<int64_t>(c);
    // The prompt and "The answer is " are shared by every choice; the answer
    // tokens are the option's bytes, the period and the end of the turn.
    const std::vector<int64_t> prompt = d::encode_prompt(sqa_conversation(alt, setup.llava), d::Template::v1, kBytes,
                                                         setup.image_tokens());
    std::vector<int64_t> ids = prompt;
    for (int64_t t : kBytes.encode(" The answer is " + q.choices[c] + ".")) ids.push_back(t);
    ids.push_back(d::Tokenizer::kEos);
    const int64_t first = static_cast<int64_t>(prompt.size() + kBytes.encode(" The answer is ").size());
    // Another choice may share the option's first byte(s); the answer span
    // starts after the prefix all choices share, which is the same here.
    const e::Tensor logits = [&] {
      qs::autograd::NoGrad no_grad;
      return model->forward(e::from_vector(ids, {1, static_cast<int64_t>(ids.size())}), e::Tensor()).logits.data();
    }();
    const e::Tensor logp = e::log_softmax(logits).to(e::DType::f64).contiguous();
    const int64_t v = logp.size(-1);
    double total = 0.0;
    int64_t n = 0;
    for (int64_t p = first; p < static_cast<int64_t>(ids.size()); ++p, ++n) {
      total += logp.data<double>()[(p - 1) * v + ids[static_cast<std::size_t>(p)]];
    }
    CHECK(mean.answer_tokens[c] == n);
    CHECK(n == static_cast<int64_t>(q.choices[c].size()) + 2);  // bytes + "." + </s>
    CHECK(sum.scores[c] == doctest::Approx(total).epsilon(1e-6));
    CHECK(mean.scores[c] == doctest::Approx(total / static_cast<double>(n)).epsilon(1e-6));
  }
}

TEST_CASE("LEA targets: the loss covers the answer turn only, lecture and explanation before the answer") {
  const MultimodalSetup setup = tiny_setup(d::AnswerTarget::lea);
  const d::SqaSplit split = tiny_split();
  const d::SqaQuestion& q = split.questions[1];
  const std::string turn = d::sqa_target(q, setup.llava.answer_format, setup.llava.target);
  CHECK(turn == "Answer: Look. It is 4. The answer is 4.");
  const d::Encoded enc = d::encode_conversation(sqa_conversation(q, setup.llava), d::Template::v1, kBytes,
                                                setup.image_tokens(), setup.llava.max_len);
  std::vector<int64_t> scored;
  for (std::size_t i = 0; i < enc.labels.size(); ++i) {
    if (enc.labels[i] != d::kIgnore) scored.push_back(enc.labels[i]);
  }
  CHECK(kBytes.decode(scored) == " " + turn + "</s>");  // the template puts a space before the turn
  // No lecture: no double space.
  d::SqaQuestion bare = q;
  bare.lecture.clear();
  CHECK(d::sqa_target(bare, d::AnswerFormat::letter, d::AnswerTarget::lea) == "Answer: It is 4. The answer is B.");
  CHECK(d::sqa_target(q, d::AnswerFormat::letter, d::AnswerTarget::answer) == "The answer is B.");
  // LEA + likelihood scores each choice after the rationale.
  bool cut = false;
  const auto rows = choice_rows(q, setup, "Answer: Look. It is 4.", cut);
  std::vector<int64_t> answer;
  for (std::size_t i = 0; i < rows[2].labels.size(); ++i) {
    if (rows[2].labels[i] != d::kIgnore) answer.push_back(rows[2].labels[i]);
  }
  CHECK(kBytes.decode(answer) == "12.</s>");  // after the shared "... The answer is "
}

TEST_CASE("generation scoring parses the paper's way: malformed outputs count as wrong, never crash") {
  MultimodalSetup setup = tiny_setup(d::AnswerTarget::lea);
  auto model = build_llava(setup, Phase::tune, "");
  const d::SqaSplit split = tiny_split();
  // A random model writes bytes, not answers: every question is malformed.
  const auto gen = score_questions(*model, split, all_of(split), setup, {Scoring::generate, 4, 24});
  for (const auto& r : gen) {
    CHECK_FALSE(r.picked.has_value());
    CHECK(r.scores.empty());
  }
  // LEA + likelihood generates the rationale, then picks among the choices.
  const auto lik = score_questions(*model, split, all_of(split), setup, {Scoring::likelihood, 4, 24});
  for (const auto& r : lik) CHECK(r.picked.has_value());
  // A rationale that fills max_len leaves no room for the answer: not scored.
  setup.llava.max_len = 200;
  bool cut = false;
  choice_rows(split.questions[0], setup, std::string(400, 'x'), cut);
  CHECK(cut);
  const std::vector<std::string> choices{"red", "blue"};
  using d::parse_answer;
  CHECK(parse_answer("Answer: Look at it. The answer is blue.", choices, d::AnswerFormat::text) == std::optional<int64_t>(1));
  CHECK(parse_answer("Answer: The answer is red. The answer is blue.", choices, d::AnswerFormat::text) == std::nullopt);
  CHECK(parse_answer("Answer: Look at it. The answer is", choices, d::AnswerFormat::text) == std::nullopt);
  CHECK(parse_answer("Answer: Look. The answer is B.", 2) == std::optional<int64_t>(1));
  CHECK(parse_answer("Answer: Look. The answer is B. The answer is A.", 2) == std::nullopt);
  CHECK(parse_answer("Answer: Look.", 2) == std::nullopt);
  CHECK(parse_answer(std::string("\xff\xfe The answer is \x01", 19), 2) == std::nullopt);
  CHECK(qs::test::has(qs::test::error_of([] { parse_scoring("loglik"); }), "expected generate, likelihood or likelihood_mean"));
}

TEST_CASE("batched generation equals one prompt at a time") {
  const MultimodalSetup setup = tiny_setup();
  auto model = build_llava(setup, Phase::tune, "");
  const d::SqaSplit split = tiny_split();
  qs::nn::GenerateOptions gen;
  gen.max_new_tokens = 10;
  gen.eos_id = d::Tokenizer::kEos;
  std::vector<std::vector<int64_t>> prompts, alone;
  std::vector<e::Tensor> images;
  std::vector<int64_t> image_of_sample;
  for (std::size_t i = 0; i < split.questions.size(); ++i) {
    const d::SqaQuestion& q = split.questions[i];
    prompts.push_back(d::encode_prompt(sqa_conversation(q, setup.llava), d::Template::v1, kBytes, setup.image_tokens()));
    const e::Tensor image = split_image(split, static_cast<int64_t>(i));
    alone.push_back(model->generate(prompts.back(), image.defined() ? normalized_images({image}) : e::Tensor(), gen));
    if (image.defined()) {
      image_of_sample.push_back(static_cast<int64_t>(images.size()));
      images.push_back(image);
    }
  }
  const auto together = model->generate_batch(prompts, normalized_images(images), image_of_sample, gen);
  REQUIRE(together.size() == alone.size());
  for (std::size_t i = 0; i < alone.size(); ++i) {
    INFO(i);
    CHECK(alone[i].size() == 10);  // a random model rarely says </s>
    CHECK(together[i] == alone[i]);
  }
  // Prompts of different lengths really were padded.
  CHECK(prompts[0].size() != prompts[1].size());
}

TEST_CASE("ScienceQA's problems (sqa.source) are asked and answered in the official QCM-LEA format") {
  const std::filesystem::path folder = std::filesystem::path(QSLAW_SOURCE_DIR) / "tests/fixtures/scienceqa";
  const d::ScienceQaProblem p = d::load_scienceqa(folder, "train")[1];  // pid 12, with an image and a hint
  const d::LlavaRecord official = d::to_llava_qcm_lea(p);
  LlavaSettings llava;
  llava.target = d::AnswerTarget::lea;
  const d::Conversation c = sqa_conversation(qs::interop::scienceqa_question(p), llava);
  REQUIRE(c.turns.size() == 1);
  CHECK(c.has_image);
  // The converted record puts "\n<image>" last; LLaVA moves it to the front, as our template does.
  std::string input = official.conversations[0].value;
  input.erase(input.find("\n<image>"));
  CHECK(c.turns[0].user == input);
  CHECK(c.turns[0].assistant == official.conversations[1].value);
  llava.target = d::AnswerTarget::answer;
  CHECK(sqa_conversation(qs::interop::scienceqa_question(p), llava).turns[0].assistant == "The answer is B.");
}
