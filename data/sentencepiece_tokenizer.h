#pragma once
// SentencePiece tokenizers (LLaMA-2's and Vicuna's tokenizer.model) through
// Debian's libsentencepiece: the same ids as Hugging Face's LlamaTokenizer
// (which prepends <s> itself: encode(text, true)).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace qs::data {

class SentencePieceTokenizer {
 public:
  // Errors name the file: missing, too large, or not a SentencePiece model.
  static SentencePieceTokenizer load(const std::filesystem::path& path);
  ~SentencePieceTokenizer();
  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;
  SentencePieceTokenizer& operator=(SentencePieceTokenizer&&) noexcept;

  std::vector<int64_t> encode(std::string_view text, bool add_bos = false, bool add_eos = false) const;
  // Ids outside the vocabulary are an error naming the id; control tokens
  // (<s>, </s>) decode to nothing, as in SentencePiece.
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const;
  int64_t bos_id() const;  // -1 where the model has none
  int64_t eos_id() const;
  int64_t unk_id() const;
  int64_t pad_id() const;
  const std::string& piece(int64_t id) const;
  int64_t piece_id(std::string_view piece) const;  // unk_id() when absent

 private:
  SentencePieceTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, std::string origin);
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string origin_;
};

}  // namespace qs::data
