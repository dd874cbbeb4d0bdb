#include "data/conversation.h"

#include <algorithm>

#include "engine/error.h"

namespace qs::data {

const char* const kSystemPrompt =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";

Template parse_template(const std::string& name) {
  if (name == "plain") return Template::plain;
  if (name == "v1") return Template::v1;
  fail("conversation: unknown template '{}' (expected plain or v1)", name);
}

namespace {

void append(Encoded& e, const std::vector<int64_t>& ids, bool learn) {
  e.ids.insert(e.ids.end(), ids.begin(), ids.end());
  e.labels.insert(e.labels.end(), ids.size(), kIgnore);
  if (learn) std::copy(ids.begin(), ids.end(), e.labels.end() - static_cast<std::ptrdiff_t>(ids.size()));
}

std::vector<int64_t> image_span(int64_t n) { return std::vector<int64_t>(static_cast<std::size_t>(n), Tokenizer::kImage); }

// Builds the sample; stops before the last answer when prompt_only.
Encoded build(const Conversation& c, Template t, const Tokenizer& tok, int64_t image_tokens, bool prompt_only,
              int64_t* prompt_length) {
  QS_CHECK(!c.turns.empty(), "conversation: no turns");
  QS_CHECK(!c.has_image || image_tokens > 0, "conversation: an image needs a positive number of image tokens");
  Encoded e;
  e.has_image = c.has_image;
  append(e, {Tokenizer::kBos}, false);
  if (t == Template::plain) {
    // LLaVA's pretraining format: the image, then the caption as the answer.
    QS_CHECK(c.turns.size() == 1, "conversation: the plain template takes one turn, got {}", c.turns.size());
    if (c.has_image) append(e, image_span(image_tokens), false);
    if (!c.turns[0].user.empty()) append(e, tok.encode(c.turns[0].user), false);
    *prompt_length = static_cast<int64_t>(e.ids.size());
    if (prompt_only) return e;
    append(e, tok.encode(c.turns[0].assistant), true);
    append(e, {Tokenizer::kEos}, true);
    return e;
  }
  if (!c.system.empty()) append(e, tok.encode(c.system), false);
  for (std::size_t i = 0; i < c.turns.size(); ++i) {
    append(e, tok.encode(" USER: "), false);
    if (i == 0 && c.has_image) {
      append(e, image_span(image_tokens), false);
      append(e, tok.encode("\n"), false);
    }
    append(e, tok.encode(c.turns[i].user), false);
    append(e, tok.encode(" ASSISTANT:"), false);
    if (i == 0) *prompt_length = static_cast<int64_t>(e.ids.size());
    if (prompt_only && i + 1 == c.turns.size()) return e;
    append(e, tok.encode(" " + c.turns[i].assistant), true);
    append(e, {Tokenizer::kEos}, true);
  }
  return e;
}

}  // namespace

Encoded encode_conversation(const Conversation& c, Template t, const Tokenizer& tok, int64_t image_tokens,
                            int64_t max_len) {
  int64_t prompt = 0;
  Encoded e = build(c, t, tok, image_tokens, false, &prompt);
  QS_CHECK(prompt < max_len, "conversation: the prompt has {} tokens ({} of them image tokens), max_len is {}",
           prompt, c.has_image ? image_tokens : 0, max_len);
  if (static_cast<int64_t>(e.ids.size()) > max_len) {
    e.ids.resize(static_cast<std::size_t>(max_len));
    e.labels.resize(static_cast<std::size_t>(max_len));
  }
  return e;
}

std::vector<int64_t> encode_prompt(const Conversation& c, Template t, const Tokenizer& tok, int64_t image_tokens) {
  int64_t prompt = 0;
  return build(c, t, tok, image_tokens, true, &prompt).ids;
}

Encoded encode_text(const std::string& text, const Tokenizer& tok, int64_t max_len) {
  Encoded e;
  append(e, {Tokenizer::kBos}, false);
  append(e, tok.encode(text), true);
  append(e, {Tokenizer::kEos}, true);
  if (static_cast<int64_t>(e.ids.size()) > max_len) {
    e.ids.resize(static_cast<std::size_t>(max_len));
    e.labels.resize(static_cast<std::size_t>(max_len));
  }
  return e;
}

Batch collate(const std::vector<Encoded>& samples) {
  QS_CHECK(!samples.empty(), "collate: no samples");
  const int64_t b = static_cast<int64_t>(samples.size());
  int64_t t = 0;
  for (const Encoded& s : samples) t = std::max<int64_t>(t, static_cast<int64_t>(s.ids.size()));
  Batch out;
  out.ids = engine::Tensor({b, t}, engine::DType::i64);
  out.targets = engine::Tensor({b, t}, engine::DType::i64);
  out.key_padding = engine::Tensor({b, t}, engine::DType::u8);
  int64_t* ids = out.ids.data<int64_t>();
  int64_t* tg = out.targets.data<int64_t>();
  uint8_t* pad = out.key_padding.data<uint8_t>();
  for (int64_t i = 0; i < b; ++i) {
    const Encoded& s = samples[static_cast<std::size_t>(i)];
    QS_CHECK(s.ids.size() == s.labels.size(), "collate: sample {} has {} ids but {} labels", i, s.ids.size(),
             s.labels.size());
    const int64_t n = static_cast<int64_t>(s.ids.size());
    for (int64_t j = 0; j < t; ++j) {
      ids[i * t + j] = j < n ? s.ids[j] : Tokenizer::kPad;
      pad[i * t + j] = j < n ? 0 : 1;
      tg[i * t + j] = j + 1 < n ? s.labels[j + 1] : kIgnore;
      out.loss_tokens += tg[i * t + j] != kIgnore;
    }
    out.tokens += n;
    if (s.has_image) out.image_rows.push_back(i);
  }
  return out;
}

}  // namespace qs::data
