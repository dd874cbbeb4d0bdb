// ScienceQA evaluation end to end on a small random LLaVA: the loop LLaVA's
// scripts run (template, image tokens, preprocessing, generation, parsing)
// and ScienceQA's accuracy columns.
#include <filesystem>

#include "interop/scienceqa_eval.h"
#include "support.h"
#include "vision/vit.h"

using namespace qs;

TEST_CASE("scienceqa eval: every problem is asked, parsed and counted in its columns, the same way twice") {
  const std::filesystem::path fixtures(QS_FIXTURES);
  const auto tok = data::SentencePieceTokenizer::load(fixtures / "tokenizers" / "llama_like.model");
  auto vit = std::make_shared<vision::VisionTransformer>(
      vision::VitConfig{.image_size = 16, .patch_size = 4, .width = 32, .layers = 1, .heads = 2});
  nn::LlamaConfig lc{.vocab_size = tok.vocab_size(), .dim = 32, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .max_seq_len = 512};
  auto llm = std::make_shared<nn::Llama>(lc);
  nn::Llava llava(vit, nn::ProjectorConfig{.type = "mlp2x_gelu", .in = 32, .out = 32}, llm);
  llava.image_token_id = tok.unk_id();
  interop::SqaEvalOptions options{.split = "train", .max_new_tokens = 4, .preprocess = {.size = 16}};
  const interop::SqaEvalResult r = interop::evaluate_scienceqa(llava, tok, fixtures / "scienceqa", options);
  CHECK(r.total == 2);
  REQUIRE(r.predictions.size() == 2);
  CHECK(r.predictions[1].pid == "12");
  for (const auto& p : r.predictions) {
    CHECK(p.choice >= -1);
    CHECK(p.correct == (p.choice >= 0 && p.choice == (p.pid == "5" ? 0 : 1)));
  }
  CHECK(r.correct + r.malformed <= r.total);
  // Problem 5: language, no context, grade 7; problem 12: natural, hint and image, grade 3.
  CHECK(r.columns.at("LAN").second == 1);
  CHECK(r.columns.at("NO").second == 1);
  CHECK(r.columns.at("G7-12").second == 1);
  CHECK(r.columns.at("NAT").second == 1);
  CHECK(r.columns.at("TXT").second == 1);
  CHECK(r.columns.at("IMG").second == 1);
  CHECK(r.columns.at("G1-6").second == 1);
  const interop::SqaEvalResult again = interop::evaluate_scienceqa(llava, tok, fixtures / "scienceqa", options);
  for (std::size_t i = 0; i < r.predictions.size(); ++i) CHECK(again.predictions[i].text == r.predictions[i].text);
  options.limit = 1;
  CHECK(interop::evaluate_scienceqa(llava, tok, fixtures / "scienceqa", options).total == 1);
}
