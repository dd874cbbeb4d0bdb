#include "data/chat_template.h"

#include <algorithm>

#include "engine/error.h"

namespace qs::data {

namespace {

// Pieces of `text` between occurrences of `sep` (an empty piece where two meet).
std::vector<std::string_view> split(std::string_view text, std::string_view sep) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    const std::size_t at = text.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, at - start));
    start = at + sep.size();
  }
}

}  // namespace

ChatTemplate parse_chat_template(std::string_view name) {
  if (name == "vicuna_v1") return ChatTemplate::vicuna_v1;
  if (name == "plain") return ChatTemplate::plain;
  fail("unknown chat template '{}' (expected vicuna_v1 or plain)", name);
}

std::string chat_text(ChatTemplate t, std::string_view question, std::string_view answer) {
  if (t == ChatTemplate::plain) {
    QS_CHECK(question == "<image>", "the plain template holds the image alone as its question, got '{}'", question);
    return answer.empty() ? std::string(question) : fmt::format("{}{}\n", question, answer);
  }
  std::string text = fmt::format("{} USER: {} ASSISTANT:", kSystemPrompt, question);
  if (!answer.empty()) text += fmt::format(" {}</s>", answer);
  return text;
}

std::vector<int64_t> tokenize_with_images(const SentencePieceTokenizer& tok, std::string_view text, int64_t image_id,
                                          int64_t image_tokens) {
  QS_CHECK(image_tokens >= 1, "tokenize_with_images: image_tokens must be at least 1, got {}", image_tokens);
  std::vector<int64_t> ids;
  if (tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  bool first = true;
  for (std::string_view chunk : split(text, "<image>")) {
    if (!first) ids.insert(ids.end(), static_cast<std::size_t>(image_tokens), image_id);
    first = false;
    bool after_eos = false;
    for (std::string_view part : split(chunk, "</s>")) {
      if (after_eos) ids.push_back(tok.eos_id());
      after_eos = true;
      if (part.empty()) continue;
      const std::vector<int64_t> piece = tok.encode(part);
      ids.insert(ids.end(), piece.begin(), piece.end());
    }
  }
  return ids;
}

namespace {

// The text of `c` under t, cut after the last turn's "ASSISTANT:" when
// prompt_only; `ends` receives, per turn, the text length up to its
// "ASSISTANT:" and up to the end of its answer.
std::string llava_text(const Conversation& c, ChatTemplate t, bool prompt_only,
                       std::vector<std::pair<std::size_t, std::size_t>>* ends) {
  QS_CHECK(!c.turns.empty(), "conversation: no turns");
  std::string text;
  if (t == ChatTemplate::plain) {
    QS_CHECK(c.turns.size() == 1, "conversation: the plain template takes one turn, got {}", c.turns.size());
    QS_CHECK(c.has_image, "conversation: the plain template captions an image; this conversation has none");
    text = "<image>";
    const std::size_t prompt = text.size();
    if (prompt_only) return text;
    text += c.turns[0].assistant + "\n";
    if (ends) ends->push_back({prompt, text.size()});
    return text;
  }
  text = c.system.empty() ? std::string() : c.system + " ";
  for (std::size_t i = 0; i < c.turns.size(); ++i) {
    text += "USER: ";
    if (i == 0 && c.has_image) text += "<image>\n";
    text += c.turns[i].user + " ASSISTANT:";
    const std::size_t prompt = text.size();
    if (prompt_only && i + 1 == c.turns.size()) return text;
    text += " " + c.turns[i].assistant + "</s>";
    if (ends) ends->push_back({prompt, text.size()});
  }
  return text;
}

bool is_prefix(const std::vector<int64_t>& prefix, const std::vector<int64_t>& whole) {
  return prefix.size() <= whole.size() && std::equal(prefix.begin(), prefix.end(), whole.begin());
}

}  // namespace

Encoded encode_llava_conversation(const Conversation& c, ChatTemplate t, const SentencePieceTokenizer& tok,
                                  int64_t image_id, int64_t image_tokens, int64_t max_len) {
  std::vector<std::pair<std::size_t, std::size_t>> ends;
  const std::string text = llava_text(c, t, false, &ends);
  Encoded e;
  e.has_image = c.has_image;
  e.ids = tokenize_with_images(tok, text, image_id, image_tokens);
  e.labels.assign(e.ids.size(), kIgnore);
  for (std::size_t i = 0; i < ends.size(); ++i) {
    const auto prompt = tokenize_with_images(tok, std::string_view(text).substr(0, ends[i].first), image_id, image_tokens);
    const auto answered = tokenize_with_images(tok, std::string_view(text).substr(0, ends[i].second), image_id, image_tokens);
    QS_CHECK(is_prefix(prompt, e.ids) && is_prefix(answered, e.ids),
             "conversation: turn {} does not tokenize on its own as it does in the whole conversation", i);
    if (i == 0) {
      QS_CHECK(static_cast<int64_t>(prompt.size()) < max_len,
               "conversation: the prompt has {} tokens ({} of them image tokens), max_len is {}", prompt.size(),
               c.has_image ? image_tokens : 0, max_len);
    }
    for (std::size_t k = prompt.size(); k < answered.size(); ++k) e.labels[k] = e.ids[k];
  }
  if (static_cast<int64_t>(e.ids.size()) > max_len) {
    e.ids.resize(static_cast<std::size_t>(max_len));
    e.labels.resize(static_cast<std::size_t>(max_len));
  }
  return e;
}

std::vector<int64_t> encode_llava_prompt(const Conversation& c, ChatTemplate t, const SentencePieceTokenizer& tok,
                                         int64_t image_id, int64_t image_tokens) {
  return tokenize_with_images(tok, llava_text(c, t, true, nullptr), image_id, image_tokens);
}

}  // namespace qs::data
