#pragma once
// Conversations as training samples: the `plain` template (image, then its
// caption: projector alignment) and `v1` (system prompt, USER/ASSISTANT
// turns), `<image>` expanded to the span of image tokens the model fills
// with projected patch features, labels masked so the loss covers only what
// the assistant says; and batches that pad, mask and mix samples with and
// without images.
#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "engine/tensor.h"

namespace qs::data {

enum class Template { plain, v1 };
Template parse_template(const std::string& name);  // "plain" or "v1"

struct Turn {
  std::string user, assistant;
};

extern const char* const kSystemPrompt;  // LLaVA v1's

struct Conversation {
  std::vector<Turn> turns;
  bool has_image = false;  // the image goes before the first user message
  std::string system = kSystemPrompt;  // v1 only
};

inline constexpr int64_t kIgnore = -100;

struct Encoded {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;  // ids where the loss applies, kIgnore elsewhere
  bool has_image = false;
};

// `image_tokens` <image> ids stand for the image. Errors when the prompt
// (everything up to the first answer) does not fit max_len; answers that run
// past max_len are cut.
Encoded encode_conversation(const Conversation& c, Template t, const Tokenizer& tok, int64_t image_tokens,
                            int64_t max_len);
// The prompt up to "ASSISTANT:" of the last turn (whose answer is left out),
// for generation.
std::vector<int64_t> encode_prompt(const Conversation& c, Template t, const Tokenizer& tok, int64_t image_tokens);
// Plain text with the loss on every token (the text-only samples of warmup).
Encoded encode_text(const std::string& text, const Tokenizer& tok, int64_t max_len);

struct Batch {
  engine::Tensor ids;          // (B, T) i64, right-padded with <pad>
  engine::Tensor targets;      // (B, T) i64: label of the next position, kIgnore where masked
  engine::Tensor key_padding;  // (B, T) u8, 1 at padding
  std::vector<int64_t> image_rows;  // samples with an image, in batch order
  int64_t loss_tokens = 0;          // targets that count
  int64_t tokens = 0;               // non-padding tokens
};

Batch collate(const std::vector<Encoded>& samples);

}  // namespace qs::data
