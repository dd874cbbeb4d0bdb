#pragma once
// The tokenizer a multimodal run speaks through: qslaw's own (pretrain_llm's
// tokenizer.json; the `v1` and `plain` templates built piece by piece) or an
// imported LLaVA's SentencePiece model (LLaVA's vicuna_v1 and plain text,
// tokenized whole as LLaVA's preprocessing does). The stages ask it for
// samples, prompts and text and never see which one it is.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/conversation.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/tokenizer.h"
#include "engine/tensor.h"

namespace qs::experiments {

class PipelineTokens {
 public:
  PipelineTokens() = default;
  static PipelineTokens own(data::Tokenizer tok);
  // image_id: the token the model splices image features at.
  static PipelineTokens sentencepiece(std::shared_ptr<const data::SentencePieceTokenizer> tok, int64_t image_id);

  // A training sample (labels on the answers).
  data::Encoded conversation(const data::Conversation& c, data::Template t, int64_t image_tokens, int64_t max_len) const;
  // The prompt up to the last turn's answer, for generation.
  std::vector<int64_t> prompt(const data::Conversation& c, data::Template t, int64_t image_tokens) const;
  // Plain text with the loss on every token, framed <s> ... </s>.
  data::Encoded text(const std::string& text, int64_t max_len) const;
  // Documents packed into (N, seq_len + 1) language-model sequences.
  engine::Tensor pack(const std::vector<std::string>& documents, int64_t seq_len) const;
  std::string decode(const std::vector<int64_t>& ids) const;  // special tokens dropped
  int64_t eos_id() const;
  int64_t pad_id() const;  // padding is masked; any id the model can embed
  int64_t vocab_size() const;
  bool is_own() const { return own_.has_value(); }
  // qslaw's own tokenizer, which the text probes (lm_probes.h) speak; only
  // when is_own().
  const data::Tokenizer& own_tokenizer() const;

 private:
  std::optional<data::Tokenizer> own_;
  std::shared_ptr<const data::SentencePieceTokenizer> sp_;
  int64_t image_id_ = data::Tokenizer::kImage;
};

}  // namespace qs::experiments
