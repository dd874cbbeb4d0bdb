#include "experiments/stages/pipeline_tokens.h"

#include "data/chat_template.h"
#include "data/lm_dataset.h"
#include "engine/error.h"

namespace qs::experiments {

namespace {

data::ChatTemplate llava_template(data::Template t) {
  return t == data::Template::plain ? data::ChatTemplate::plain : data::ChatTemplate::vicuna_v1;
}

}  // namespace

PipelineTokens PipelineTokens::own(data::Tokenizer tok) {
  PipelineTokens p;
  p.own_ = std::move(tok);
  return p;
}

PipelineTokens PipelineTokens::sentencepiece(std::shared_ptr<const data::SentencePieceTokenizer> tok, int64_t image_id) {
  QS_CHECK(tok != nullptr, "PipelineTokens: no tokenizer");
  QS_CHECK(tok->bos_id() >= 0 && tok->eos_id() >= 0, "PipelineTokens: the tokenizer needs <s> and </s>");
  PipelineTokens p;
  p.sp_ = std::move(tok);
  p.image_id_ = image_id;
  return p;
}

data::Encoded PipelineTokens::conversation(const data::Conversation& c, data::Template t, int64_t image_tokens,
                                           int64_t max_len) const {
  if (own_) return data::encode_conversation(c, t, *own_, image_tokens, max_len);
  return data::encode_llava_conversation(c, llava_template(t), *sp_, image_id_, image_tokens, max_len);
}

std::vector<int64_t> PipelineTokens::prompt(const data::Conversation& c, data::Template t, int64_t image_tokens) const {
  if (own_) return data::encode_prompt(c, t, *own_, image_tokens);
  return data::encode_llava_prompt(c, llava_template(t), *sp_, image_id_, image_tokens);
}

data::Encoded PipelineTokens::text(const std::string& text, int64_t max_len) const {
  if (own_) return data::encode_text(text, *own_, max_len);
  data::Encoded e;
  e.ids = sp_->encode(text, /*add_bos=*/true, /*add_eos=*/true);
  e.labels = e.ids;
  e.labels[0] = data::kIgnore;
  if (static_cast<int64_t>(e.ids.size()) > max_len) {
    e.ids.resize(static_cast<std::size_t>(max_len));
    e.labels.resize(static_cast<std::size_t>(max_len));
  }
  return e;
}

engine::Tensor PipelineTokens::pack(const std::vector<std::string>& documents, int64_t seq_len) const {
  if (own_) return data::pack_sequences(documents, *own_, seq_len);
  return data::pack_sequences(
      documents, [&](const std::string& d) { return sp_->encode(d, /*add_bos=*/true, /*add_eos=*/true); }, seq_len);
}

std::string PipelineTokens::decode(const std::vector<int64_t>& ids) const {
  if (own_) return own_->decode(ids, /*skip_special=*/true);
  std::vector<int64_t> text_ids;
  for (int64_t id : ids) {
    if (id != image_id_) text_ids.push_back(id);
  }
  return sp_->decode(text_ids);
}

int64_t PipelineTokens::eos_id() const { return own_ ? data::Tokenizer::kEos : sp_->eos_id(); }

int64_t PipelineTokens::pad_id() const {
  if (own_) return data::Tokenizer::kPad;
  return sp_->pad_id() >= 0 ? sp_->pad_id() : sp_->unk_id() >= 0 ? sp_->unk_id() : sp_->eos_id();
}

int64_t PipelineTokens::vocab_size() const { return own_ ? own_->vocab_size() : sp_->vocab_size(); }

const data::Tokenizer& PipelineTokens::own_tokenizer() const {
  QS_CHECK(own_.has_value(), "tokens: this run speaks an imported SentencePiece model, not qslaw's own tokenizer");
  return *own_;
}

}  // namespace qs::experiments
