#include "data/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/error.h"

namespace qs::data {

namespace {

enum class CharClass { letter, digit, space, newline, punct };

CharClass classify(unsigned char c) {
  if (std::isalpha(c) || c >= 0x80) return CharClass::letter;  // UTF-8 stays inside words
  if (std::isdigit(c)) return CharClass::digit;
  if (c == ' ') return CharClass::space;
  if (std::isspace(c)) return CharClass::newline;
  return CharClass::punct;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

std::vector<std::string_view> split_chunks(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    CharClass c = classify(text[i]);
    if (c == CharClass::space && i + 1 < text.size()) {
      CharClass next = classify(text[i + 1]);
      if (next != CharClass::space && next != CharClass::newline) {
        ++i;  // a single space belongs to the word after it
        c = next;
      }
    }
    while (i < text.size() && classify(text[i]) == c) ++i;
    // In a run of spaces before a word, the last space goes with the word.
    if (c == CharClass::space && i - start > 1 && i < text.size() &&
        classify(text[i]) != CharClass::newline) {
      --i;
    }
    out.push_back(text.substr(start, i - start));
  }
  return out;
}

const std::vector<std::string>& Tokenizer::special_tokens() {
  static const std::vector<std::string> tokens{"<s>", "</s>", "<pad>", "<image>", "<unk>"};
  return tokens;
}

Tokenizer::Tokenizer() {
  tokens_ = special_tokens();
  for (int b = 0; b < 256; ++b) tokens_.push_back(std::string(1, static_cast<char>(b)));
}

Tokenizer::Tokenizer(const Tokenizer& o)
    : tokens_(o.tokens_), merges_(o.merges_), merge_rank_(o.merge_rank_) {}

Tokenizer& Tokenizer::operator=(const Tokenizer& o) {
  tokens_ = o.tokens_;
  merges_ = o.merges_;
  merge_rank_ = o.merge_rank_;
  std::lock_guard<std::mutex> lock(cache_mutex_);
  cache_.clear();
  return *this;
}

void Tokenizer::add_merge(int32_t a, int32_t b) {
  merge_rank_[pair_key(a, b)] = static_cast<int32_t>(merges_.size());
  merges_.emplace_back(a, b);
  tokens_.push_back(tokens_[a] + tokens_[b]);
}

const std::string& Tokenizer::token(int64_t id) const {
  QS_CHECK(id >= 0 && id < vocab_size(), "tokenizer: id {} out of range [0, {})", id, vocab_size());
  return tokens_[id];
}

Tokenizer Tokenizer::train(const std::vector<std::string>& texts, int64_t vocab_size) {
  Tokenizer tok;
  QS_CHECK(vocab_size >= tok.vocab_size(), "tokenizer: vocab_size {} is below the {} byte and special tokens",
           vocab_size, tok.vocab_size());
  // Unique chunks with their counts; each as a sequence of token ids.
  std::map<std::string, int64_t> counts;
  for (const std::string& t : texts) {
    for (std::string_view c : split_chunks(t)) ++counts[std::string(c)];
  }
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> freq;
  for (auto& [w, n] : counts) {
    std::vector<int32_t> ids;
    for (unsigned char ch : w) ids.push_back(static_cast<int32_t>(kNumSpecial + ch));
    words.push_back(std::move(ids));
    freq.push_back(n);
  }
  while (tok.vocab_size() < vocab_size) {
    std::unordered_map<uint64_t, int64_t> pairs;
    for (std::size_t w = 0; w < words.size(); ++w) {
      for (std::size_t i = 0; i + 1 < words[w].size(); ++i) {
        pairs[pair_key(words[w][i], words[w][i + 1])] += freq[w];
      }
    }
    uint64_t best = 0;
    int64_t best_count = 1;  // a pair must occur at least twice to be merged
    for (auto& [key, n] : pairs) {
      if (n > best_count || (n == best_count && best_count > 1 && key < best)) {
        best = key;
        best_count = n;
      }
    }
    if (best_count < 2) break;
    const int32_t a = static_cast<int32_t>(best >> 32), b = static_cast<int32_t>(best & 0xffffffffu);
    const int32_t merged = static_cast<int32_t>(tok.vocab_size());
    tok.add_merge(a, b);
    for (auto& ids : words) {
      std::size_t out = 0;
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i + 1 < ids.size() && ids[i] == a && ids[i + 1] == b) {
          ids[out++] = merged;
          ++i;
        } else {
          ids[out++] = ids[i];
        }
      }
      ids.resize(out);
    }
  }
  return tok;
}

std::vector<int64_t> Tokenizer::encode_chunk(std::string_view chunk) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(std::string(chunk));
    if (it != cache_.end()) return it->second;
  }
  std::vector<int32_t> ids;
  for (unsigned char ch : chunk) ids.push_back(static_cast<int32_t>(kNumSpecial + ch));
  // Apply the lowest-ranked merge present until none applies.
  while (ids.size() > 1) {
    int32_t best_rank = INT32_MAX;
    std::size_t at = 0;
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
      auto it = merge_rank_.find(pair_key(ids[i], ids[i + 1]));
      if (it != merge_rank_.end() && it->second < best_rank) {
        best_rank = it->second;
        at = i;
      }
    }
    if (best_rank == INT32_MAX) break;
    ids[at] = static_cast<int32_t>(kNumSpecial + 256 + best_rank);
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  std::vector<int64_t> out(ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  cache_.emplace(std::string(chunk), out);
  return out;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int64_t> out;
  auto encode_plain = [&](std::string_view part) {
    for (std::string_view c : split_chunks(part)) {
      auto ids = encode_chunk(c);
      out.insert(out.end(), ids.begin(), ids.end());
    }
  };
  if (!parse_special) {
    encode_plain(text);
    return out;
  }
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t next = std::string_view::npos;
    int64_t which = -1;
    for (int64_t s = 0; s < kNumSpecial; ++s) {
      std::size_t f = text.find(special_tokens()[s], pos);
      if (f < next) {
        next = f;
        which = s;
      }
    }
    encode_plain(text.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (which < 0) break;
    out.push_back(which);
    pos = next + special_tokens()[which].size();
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string out;
  for (int64_t id : ids) {
    if (skip_special && id < kNumSpecial) continue;
    out += token(id);
  }
  return out;
}

void Tokenizer::save(const std::filesystem::path& path) const {
  nlohmann::json j;
  j["format"] = "qslaw-bpe";
  j["version"] = 1;
  j["special_tokens"] = special_tokens();
  nlohmann::json merges = nlohmann::json::array();
  for (auto& [a, b] : merges_) merges.push_back({a, b});
  j["merges"] = merges;
  engine::write_file_atomically(path, j.dump());
}

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  QS_CHECK(in.good(), "tokenizer {}: cannot open file", path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer {}: not valid JSON: {}", path.string(), e.what());
  }
  // Keys of the wrong JSON type (a list where a string belongs) are refused
  // like any other malformed file.
  try {
    QS_CHECK(j.is_object() && j.value("format", "") == "qslaw-bpe",
             "tokenizer {}: not a qslaw BPE tokenizer file (format key missing or different)",
             path.string());
    QS_CHECK(j.value("special_tokens", std::vector<std::string>{}) == special_tokens(),
             "tokenizer {}: special tokens differ from {}", path.string(),
             fmt::join(special_tokens(), " "));
    Tokenizer tok;
    QS_CHECK(j.contains("merges") && j["merges"].is_array(), "tokenizer {}: 'merges' must be a list",
             path.string());
    for (std::size_t i = 0; i < j["merges"].size(); ++i) {
      const auto& m = j["merges"][i];
      QS_CHECK(m.is_array() && m.size() == 2 && m[0].is_number_integer() && m[1].is_number_integer(),
               "tokenizer {}: merge {} must be a pair of token ids", path.string(), i);
      int64_t a = m[0], b = m[1];
      QS_CHECK(a >= kNumSpecial && b >= kNumSpecial && a < tok.vocab_size() && b < tok.vocab_size(),
               "tokenizer {}: merge {} refers to token ids ({}, {}) that do not exist yet",
               path.string(), i, a, b);
      tok.add_merge(static_cast<int32_t>(a), static_cast<int32_t>(b));
    }
    return tok;
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer {}: malformed: {}", path.string(), e.what());
  }
}

}  // namespace qs::data
