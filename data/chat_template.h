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

#include "data/conversation.h"
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

// A conversation as LLaVA's preprocessing turns it into a training sample:
// vicuna_v1 (c.system, then "USER: ... ASSISTANT: ...</s>" per turn, the
// image first in the first question) or plain (the image, then the caption
// of c's one turn, then "\n"), tokenized whole by tokenize_with_images.
// Labels cover each answer and its closing "</s>" (plain: the caption and
// "\n"), found as the tokens between the encoding of the text up to
// "ASSISTANT:" and up to the answer's end; an error names the turn if those
// encodings are not prefixes of the whole (a tokenizer merging across the
// boundary). The prompt must fit max_len; answers past it are cut.
Encoded encode_llava_conversation(const Conversation& c, ChatTemplate t, const SentencePieceTokenizer& tok,
                                  int64_t image_id, int64_t image_tokens, int64_t max_len);
// The same text up to the last turn's "ASSISTANT:" (plain: the image), for generation.
std::vector<int64_t> encode_llava_prompt(const Conversation& c, ChatTemplate t, const SentencePieceTokenizer& tok,
                                         int64_t image_id, int64_t image_tokens);

}  // namespace qs::data
