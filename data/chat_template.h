#pragma once
// LLaVA's conversation templates over an outside tokenizer: the text of one
// turn in `vicuna_v1` (instruction tuning, LLaVA-1.5's default) or `plain`
// (projector pretraining: the image, then its caption), and LLaVA's
// tokenization of it (tokenizer_image_token), where each "<image>" becomes
// image tokens rather than text.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/sentencepiece_tokenizer.h"

namespace qs::data {

enum class ChatTemplate { vicuna_v1, plain };
ChatTemplate parse_chat_template(std::string_view name);  // errors list the names

// The turn's text: with an empty answer, the prompt the model continues
// ("... USER: <question> ASSISTANT:"); with one, the training text, closed by
// "</s>" (vicuna_v1) or "\n" (plain, whose question is just "<image>").
std::string chat_text(ChatTemplate t, std::string_view question, std::string_view answer = {});

// Each "<image>"-separated chunk encoded on its own (with <s>, kept only at
// the front), "</s>" read as the eos token, and each "<image>" replaced by
// `image_tokens` copies of `image_id` (LLaVA inserts one IMAGE_TOKEN_INDEX,
// -200, and widens it inside the model; nn::Llava splices at as many tokens
// as the vision tower has features).
std::vector<int64_t> tokenize_with_images(const SentencePieceTokenizer& tok, std::string_view text, int64_t image_id,
                                          int64_t image_tokens = 1);

}  // namespace qs::data
