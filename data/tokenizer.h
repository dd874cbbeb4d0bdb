#pragma once
// Byte-level BPE trained by our code: ids 0-4 are the special tokens, 5-260
// the 256 bytes, then one id per learned merge. Any UTF-8 (indeed any byte
// string) encodes and decodes back exactly.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qs::data {

class Tokenizer {
 public:
  static constexpr int64_t kBos = 0, kEos = 1, kPad = 2, kImage = 3, kUnk = 4;
  static constexpr int64_t kNumSpecial = 5;
  static const std::vector<std::string>& special_tokens();  // "<s>", "</s>", "<pad>", "<image>", "<unk>"

  Tokenizer();  // bytes only, no merges
  Tokenizer(const Tokenizer& other);
  Tokenizer& operator=(const Tokenizer& other);
  // Learns merges from texts until the vocabulary has vocab_size entries (or
  // no pair occurs twice). Deterministic: ties go to the smallest pair.
  static Tokenizer train(const std::vector<std::string>& texts, int64_t vocab_size);

  // parse_special: literal "<image>" etc. in the text become their ids;
  // otherwise they are encoded as ordinary bytes.
  std::vector<int64_t> encode(std::string_view text, bool parse_special = false) const;
  // Special tokens are written as their literal strings unless skipped.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const;

  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::string& token(int64_t id) const;

  void save(const std::filesystem::path& path) const;  // JSON, written atomically
  static Tokenizer load(const std::filesystem::path& path);

 private:
  void add_merge(int32_t a, int32_t b);
  std::vector<int64_t> encode_chunk(std::string_view chunk) const;

  std::vector<std::string> tokens_;                     // id -> bytes
  std::vector<std::pair<int32_t, int32_t>> merges_;     // in rank order
  std::unordered_map<uint64_t, int32_t> merge_rank_;  // (a << 32 | b) -> rank
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

// Pre-tokenisation: words with their leading space, digit runs, punctuation
// runs and whitespace runs (GPT-2 style); merges never cross chunks.
std::vector<std::string_view> split_chunks(std::string_view text);

}  // namespace qs::data
