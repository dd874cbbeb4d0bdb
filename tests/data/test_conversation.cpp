#include "data/conversation.h"
#include "support.h"

using namespace qs::data;
using qs::test::error_of;
using qs::test::has;

namespace {

// The decoded text of the positions where the loss applies.
std::string learned_text(const Encoded& e, const Tokenizer& tok) {
  std::vector<int64_t> ids;
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    if (e.labels[i] != kIgnore) {
      CHECK(e.labels[i] == e.ids[i]);
      ids.push_back(e.ids[i]);
    }
  }
  return tok.decode(ids);
}

int64_t count_image_tokens(const Encoded& e) {
  return std::count(e.ids.begin(), e.ids.end(), Tokenizer::kImage);
}

}  // namespace

TEST_CASE("the plain template learns only the caption and expands the image") {
  Tokenizer tok;
  Conversation c{{{"", "two red circles"}}, true, ""};
  Encoded e = encode_conversation(c, Template::plain, tok, 16, 256);
  CHECK(count_image_tokens(e) == 16);
  CHECK(e.ids[0] == Tokenizer::kBos);
  CHECK(e.ids[1] == Tokenizer::kImage);
  CHECK(learned_text(e, tok) == "two red circles</s>");
  CHECK(e.has_image);
}

TEST_CASE("the v1 template masks system, user turns and image - only assistant answers are learned") {
  Tokenizer tok;
  Conversation c{{{"How many circles?", "Two."}, {"And squares?", "One."}}, true, "A chat."};
  Encoded e = encode_conversation(c, Template::v1, tok, 4, 512);
  CHECK(count_image_tokens(e) == 4);
  CHECK(learned_text(e, tok) == " Two.</s> One.</s>");
  const std::string all = tok.decode(e.ids);
  CHECK(all == "<s>A chat. USER: <image><image><image><image>\nHow many circles? ASSISTANT: Two.</s> USER: And squares? ASSISTANT: One.</s>");
  // The generation prompt stops before the last answer.
  const std::vector<int64_t> prompt = encode_prompt(c, Template::v1, tok, 4);
  CHECK(tok.decode(prompt) == "<s>A chat. USER: <image><image><image><image>\nHow many circles? ASSISTANT: Two.</s> USER: And squares? ASSISTANT:");
  // Without an image there are no image tokens.
  c.has_image = false;
  CHECK(count_image_tokens(encode_conversation(c, Template::v1, tok, 4, 512)) == 0);
}

TEST_CASE("a prompt longer than max_len is an error - a long answer is cut") {
  Tokenizer tok;
  Conversation c{{{"a question that is long enough", "an answer"}}, true, ""};
  CHECK(has(error_of([&] { encode_conversation(c, Template::v1, tok, 64, 40); }), "max_len is 40"));
  Encoded e = encode_conversation(c, Template::v1, tok, 4, 60);
  CHECK(e.ids.size() == 60u);
  CHECK(e.labels.size() == 60u);
}

TEST_CASE("collate pads right, shifts labels into next-token targets and marks padding") {
  Tokenizer tok;
  Encoded a = encode_conversation({{{"q", "yes"}}, true, ""}, Template::v1, tok, 2, 64);
  Encoded b = encode_text("hi", tok, 64);
  Batch batch = collate({a, b});
  const int64_t t = static_cast<int64_t>(a.ids.size());
  REQUIRE(batch.ids.size(1) == t);
  CHECK(batch.image_rows == std::vector<int64_t>{0});
  const auto ids = qs::engine::to_vector<int64_t>(batch.ids);
  const auto tg = qs::engine::to_vector<int64_t>(batch.targets);
  const auto pad = qs::engine::to_vector<uint8_t>(batch.key_padding);
  for (int64_t j = 0; j < t; ++j) {
    CHECK(tg[j] == (j + 1 < t ? a.labels[j + 1] : kIgnore));
  }
  const int64_t nb = static_cast<int64_t>(b.ids.size());
  for (int64_t j = 0; j < t; ++j) {
    CHECK(pad[t + j] == (j >= nb ? 1 : 0));
    if (j >= nb) CHECK(ids[t + j] == Tokenizer::kPad);
    if (j + 1 >= nb) CHECK(tg[t + j] == kIgnore);
  }
  // Text samples learn every token after <s>.
  CHECK(batch.loss_tokens == static_cast<int64_t>(std::count_if(tg.begin(), tg.end(), [](int64_t v) { return v != kIgnore; })));
  CHECK(batch.tokens == t + nb);
}
