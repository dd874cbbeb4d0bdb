#include "data/chat_template.h"

#include "engine/error.h"

namespace qs::data {

namespace {

constexpr std::string_view kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, "
    "and polite answers to the user's questions.";

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
  std::string text = fmt::format("{} USER: {} ASSISTANT:", kVicunaSystem, question);
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

}  // namespace qs::data
