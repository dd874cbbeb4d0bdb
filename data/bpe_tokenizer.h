#pragma once
// Hugging Face tokenizer.json files of byte-level BPE models (GPT-2's and
// LLaMA-3's family): the vocabulary and merges, the pre-tokenizer's split
// pattern (a regular expression over Unicode classes, run by PCRE2), the
// byte-to-character mapping, and added/special tokens matched in the text
// before anything else. What the file asks for and this reader cannot do
// (a normalizer, another model type, byte fallback, subword prefixes, other
// split behaviours) is refused by name rather than encoded differently.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qs::data {

class BpeTokenizer {
 public:
  // Errors name the file and the key, token or merge that is wrong.
  static BpeTokenizer load(const std::filesystem::path& path);
  ~BpeTokenizer();
  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;

  // Added tokens in the text become their ids; with add_bos the
  // post-processor's leading special token (LLaMA-3's <|begin_of_text|>)
  // comes first. Text that is not UTF-8 is an error naming the byte.
  std::vector<int64_t> encode(std::string_view text, bool add_bos = false) const;
  // Ids outside the vocabulary are an error naming the id.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const;

  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t token_id(std::string_view content) const;  // -1 when absent
  int64_t bos_id() const { return bos_id_; }         // -1 when the post-processor adds none

 private:
  struct Split;  // one compiled split pattern
  struct AddedToken {
    std::string content;
    int64_t id;
    bool special, lstrip, rstrip;
  };
  BpeTokenizer();
  void encode_ordinary(std::string_view text, std::vector<int64_t>& out) const;
  void encode_word(const std::string& word, std::vector<int64_t>& out) const;

  std::string origin_;
  std::vector<std::string> tokens_;  // by id: byte-level text, or an added token's content
  std::vector<char> is_added_, is_special_;
  std::unordered_map<std::string, int64_t> vocab_;  // byte-level text -> id
  std::unordered_map<std::string, int64_t> merge_rank_;  // "left right" -> rank
  std::vector<AddedToken> added_;  // longest first
  std::vector<std::unique_ptr<Split>> splits_;
  bool add_prefix_space_ = false, ignore_merges_ = false;
  int64_t bos_id_ = -1, unk_id_ = -1;
};

}  // namespace qs::data
