#include "data/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <limits>

#include "engine/error.h"
#include "engine/io/json_file.h"

namespace qs::data {

namespace {

// LLaMA-3's tokenizer.json is 9 MB; a generous cap keeps a hostile file from
// exhausting memory before it is parsed.
constexpr std::size_t kMaxFileBytes = std::size_t{256} << 20;
constexpr int64_t kMaxVocab = int64_t{1} << 24;

// GPT-2's pre-tokenizer pattern, which ByteLevel applies when use_regex is on.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// GPT-2's reversible map from bytes to printable characters: printable
// Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 onwards
// in byte order. Every token of a byte-level vocabulary is spelled in it.
struct ByteMap {
  std::string to_char[256];                       // byte -> UTF-8 of its character
  std::unordered_map<std::string, uint8_t> to_byte;  // and back
  ByteMap() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      append_utf8(to_char[b], printable ? b : next++);
      to_byte[to_char[b]] = static_cast<uint8_t>(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

// Length of the UTF-8 character starting at s[i] (the text was validated).
std::size_t char_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  return std::min(n, s.size() - i);
}

// The offset of the first byte that does not start a well-formed UTF-8
// character (overlong forms and surrogates included), or npos.
std::size_t first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    uint32_t min = 0, cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return i;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

}  // namespace

struct BpeTokenizer::Split {
  pcre2_code* code = nullptr;
  ~Split() { pcre2_code_free(code); }

  Split(const std::string& pattern, const std::string& where) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &error,
                         &offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      throw Error(fmt::format("{}: the split pattern does not compile at offset {}: {}", where, offset,
                              reinterpret_cast<const char*>(message)));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // a speed-up where available; the interpreter otherwise
  }

  // "Isolated": every match and every stretch between matches is a piece.
  void apply(std::string_view text, std::vector<std::string>& pieces, const std::string& origin) const {
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(code, nullptr);
    std::size_t start = 0, last = 0;
    while (start < text.size()) {
      // encode() validated the UTF-8.
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                               PCRE2_NO_UTF_CHECK, match, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof(message));
        pcre2_match_data_free(match);
        throw Error(fmt::format("{}: cannot split the text from byte {}: {}", origin, start,
                                reinterpret_cast<const char*>(message)));
      }
      const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match);
      const std::size_t b = span[0], e = span[1];
      if (e == b) {  // an empty match splits nothing; try one character on
        start = b + char_length(text, b);
        continue;
      }
      if (b > last) pieces.emplace_back(text.substr(last, b - last));
      pieces.emplace_back(text.substr(b, e - b));
      last = start = e;
    }
    pcre2_match_data_free(match);
    if (last < text.size()) pieces.emplace_back(text.substr(last));
  }
};

BpeTokenizer::BpeTokenizer() = default;
BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;

BpeTokenizer BpeTokenizer::load(const std::filesystem::path& path) {
  using engine::JsonObject;
  const JsonObject root(engine::read_json_file(path, kMaxFileBytes), path.string());
  BpeTokenizer t;
  t.origin_ = path.string();
  const ByteMap& bytes = byte_map();

  QS_CHECK(!root.has("normalizer"), "{} is set; byte-level BPE tokenizers have none (a SentencePiece model loads "
           "through its tokenizer.model)", root.at("normalizer"));
  const JsonObject model = root.object("model");
  QS_CHECK(model.string("type") == "BPE", "{} is '{}'; this reader takes BPE models", model.at("type"),
           model.string("type"));
  QS_CHECK(!model.boolean_or("byte_fallback", false), "{} is true; that is SentencePiece-style BPE, which loads "
           "through its tokenizer.model", model.at("byte_fallback"));
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    QS_CHECK(!model.has(key) || model.string(key).empty(), "{} is set; byte-level BPE uses none", model.at(key));
  }
  QS_CHECK(!model.has("dropout") || model.number("dropout") == 0.0, "{} is set; BPE dropout is for training only",
           model.at("dropout"));
  t.ignore_merges_ = model.boolean_or("ignore_merges", false);

  // The vocabulary: every token spelled in the byte-level alphabet, ids
  // unique and dense enough to index.
  const nlohmann::json& vocab = model.json().contains("vocab") ? model.json()["vocab"] : nlohmann::json();
  QS_CHECK(vocab.is_object() && !vocab.empty(), "{} must be an object of token: id", model.at("vocab"));
  int64_t max_id = -1;
  for (const auto& [token, id] : vocab.items()) {
    QS_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < kMaxVocab,
             "{}: token '{}' has id {}, not an integer in [0, {})", model.at("vocab"), token, id.dump(), kMaxVocab);
    max_id = std::max(max_id, id.get<int64_t>());
  }
  const nlohmann::json empty_list = nlohmann::json::array();
  const nlohmann::json& added = root.json().contains("added_tokens") && !root.json()["added_tokens"].is_null()
                                    ? root.json()["added_tokens"]
                                    : empty_list;
  QS_CHECK(added.is_array(), "{} must be a list", root.at("added_tokens"));
  for (const auto& a : added) {
    const JsonObject entry(a, fmt::format("{}: added token {}", path.string(), a.dump()));
    const int64_t id = entry.integer("id");
    QS_CHECK(id >= 0 && id < kMaxVocab, "{}: id {} is not in [0, {})", entry.where(), id, kMaxVocab);
    max_id = std::max(max_id, id);
  }
  t.tokens_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  t.is_added_.assign(t.tokens_.size(), 0);
  t.is_special_.assign(t.tokens_.size(), 0);
  std::vector<char> taken(t.tokens_.size(), 0);
  for (const auto& [token, id_json] : vocab.items()) {
    const auto id = static_cast<std::size_t>(id_json.get<int64_t>());
    QS_CHECK(!taken[id], "{}: id {} belongs to both '{}' and '{}'", model.at("vocab"), id, t.tokens_[id], token);
    for (std::size_t i = 0; i < token.size();) {
      const std::size_t n = char_length(token, i);
      QS_CHECK(bytes.to_byte.count(token.substr(i, n)), "{}: token '{}' (id {}) has a character outside the "
               "byte-level alphabet", model.at("vocab"), token, id);
      i += n;
    }
    taken[id] = 1;
    t.tokens_[id] = token;
    t.vocab_[token] = static_cast<int64_t>(id);
  }
  for (const auto& a : added) {
    const JsonObject entry(a, fmt::format("{}: added token {}", path.string(), a.dump()));
    const auto id = static_cast<std::size_t>(entry.integer("id"));
    const std::string content = entry.string("content");
    QS_CHECK(!content.empty(), "{}: the content is empty", entry.where());
    QS_CHECK(!entry.boolean_or("single_word", false), "{}: single_word matching is not supported", entry.where());
    // GPT-2 lists <|endoftext|> both here and in the vocabulary, under one id.
    QS_CHECK(!taken[id] || !t.is_added_[id], "{}: id {} is listed twice", entry.where(), id);
    QS_CHECK(!taken[id] || t.tokens_[id] == content, "{}: id {} is '{}' in the vocabulary", entry.where(), id,
             t.tokens_[id]);
    QS_CHECK(!t.vocab_.count(content) || t.vocab_.at(content) == static_cast<int64_t>(id),
             "{}: '{}' is vocabulary id {}", entry.where(), content, t.vocab_.count(content) ? t.vocab_.at(content) : -1);
    taken[id] = 1;
    t.tokens_[id] = content;
    t.is_added_[id] = 1;
    t.is_special_[id] = entry.boolean_or("special", false);
    t.added_.push_back({content, static_cast<int64_t>(id), static_cast<bool>(t.is_special_[id]),
                        entry.boolean_or("lstrip", false), entry.boolean_or("rstrip", false)});
  }
  for (std::size_t id = 0; id < taken.size(); ++id) {
    QS_CHECK(taken[id], "{}: no token has id {} (ids must run from 0 to {} without gaps)", path.string(), id, max_id);
  }
  std::stable_sort(t.added_.begin(), t.added_.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  if (model.has("unk_token")) {
    const std::string unk = model.string("unk_token");
    QS_CHECK(t.vocab_.count(unk), "{} '{}' is not in the vocabulary", model.at("unk_token"), unk);
    t.unk_id_ = t.vocab_.at(unk);
  }

  // Merges: "left right" strings (older files) or [left, right] pairs; both
  // halves and their concatenation must be tokens.
  const nlohmann::json& merges = model.json().contains("merges") ? model.json()["merges"] : nlohmann::json();
  QS_CHECK(merges.is_array(), "{} must be a list", model.at("merges"));
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const nlohmann::json& m = merges[rank];
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const std::size_t space = s.find(' ');
      QS_CHECK(space != std::string::npos && space > 0 && space + 1 < s.size() && s.find(' ', space + 1) == std::string::npos,
               "{}: merge {} is '{}', not two tokens separated by one space", model.at("merges"), rank, s);
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      QS_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
               "{}: merge {} is {}, not a pair of tokens", model.at("merges"), rank, m.dump());
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    }
    for (const std::string* part : {&left, &right}) {
      QS_CHECK(t.vocab_.count(*part), "{}: merge {} uses '{}', which is not in the vocabulary", model.at("merges"),
               rank, *part);
    }
    QS_CHECK(t.vocab_.count(left + right), "{}: merge {} makes '{}', which is not in the vocabulary",
             model.at("merges"), rank, left + right);
    t.merge_rank_.emplace(left + " " + right, static_cast<int64_t>(rank));  // the first listing wins
  }

  // The pre-tokenizer: Split(Isolated) steps and one ByteLevel, alone or in a Sequence.
  QS_CHECK(root.has("pre_tokenizer"), "{} is missing; byte-level BPE needs a ByteLevel pre-tokenizer",
           root.at("pre_tokenizer"));
  const JsonObject pre = root.object("pre_tokenizer");
  std::vector<JsonObject> steps;
  if (pre.string("type") == "Sequence") {
    const nlohmann::json& list = pre.array("pretokenizers");
    for (std::size_t i = 0; i < list.size(); ++i) {
      steps.emplace_back(list[i], fmt::format("{}: pretokenizers[{}]", pre.where(), i));
    }
  } else {
    steps.push_back(pre);
  }
  bool byte_level = false;
  for (const JsonObject& step : steps) {
    const std::string type = step.string("type");
    if (type == "Split") {
      QS_CHECK(!byte_level, "{}: a Split after ByteLevel is not supported", step.where());
      QS_CHECK(step.string("behavior") == "Isolated", "{} is '{}'; only 'Isolated' splits are supported",
               step.at("behavior"), step.string("behavior"));
      QS_CHECK(!step.boolean_or("invert", false), "{} is true; inverted splits are not supported", step.at("invert"));
      const JsonObject pattern = step.object("pattern");
      QS_CHECK(pattern.has("Regex"), "{}: only Regex patterns are supported, got {}", step.at("pattern"),
               pattern.json().dump());
      t.splits_.push_back(std::make_unique<Split>(pattern.string("Regex"), step.at("pattern")));
    } else if (type == "ByteLevel") {
      QS_CHECK(!byte_level, "{}: ByteLevel appears twice", step.where());
      byte_level = true;
      t.add_prefix_space_ = step.boolean_or("add_prefix_space", false);
      if (step.boolean_or("use_regex", true)) t.splits_.push_back(std::make_unique<Split>(kGpt2Pattern, step.where()));
    } else {
      throw Error(fmt::format("{} is '{}'; supported are Split, ByteLevel and a Sequence of them", step.at("type"),
                              type));
    }
  }
  QS_CHECK(byte_level, "{}: no ByteLevel step; this reader takes byte-level BPE", pre.where());

  // The post-processor's leading special token, if it adds one (LLaMA-3's
  // TemplateProcessing starts its "single" template with <|begin_of_text|>).
  if (root.has("post_processor")) {
    std::vector<nlohmann::json> processors{root.json()["post_processor"]};
    if (processors[0].value("type", "") == "Sequence" && processors[0].contains("processors")) {
      processors = processors[0]["processors"].get<std::vector<nlohmann::json>>();
    }
    for (const nlohmann::json& p : processors) {
      if (p.value("type", "") != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array() ||
          p["single"].empty() || !p["single"][0].contains("SpecialToken")) {
        continue;
      }
      const nlohmann::json& special = p["single"][0]["SpecialToken"];
      QS_CHECK(special.contains("id") && special["id"].is_string(), "{}: post_processor's template starts with {}",
               path.string(), special.dump());
      t.bos_id_ = t.token_id(special["id"].get<std::string>());
      QS_CHECK(t.bos_id_ >= 0, "{}: post_processor adds '{}', which is not a token", path.string(),
               special["id"].get<std::string>());
    }
  }
  return t;
}

int64_t BpeTokenizer::token_id(std::string_view content) const {
  for (const AddedToken& a : added_) {
    if (a.content == content) return a.id;
  }
  const auto it = vocab_.find(std::string(content));
  return it == vocab_.end() ? -1 : it->second;
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<int64_t>& out) const {
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<std::string> symbols;
  for (std::size_t i = 0; i < word.size();) {
    const std::size_t n = char_length(word, i);
    symbols.push_back(word.substr(i, n));
    i += n;
  }
  // Repeatedly merge the lowest-ranked adjacent pair, every occurrence of it
  // left to right.
  while (symbols.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    std::string best_pair;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const std::string pair = symbols[i] + " " + symbols[i + 1];
      if (auto it = merge_rank_.find(pair); it != merge_rank_.end() && it->second < best) {
        best = it->second;
        best_pair = pair;
      }
    }
    if (best_pair.empty()) break;
    std::vector<std::string> merged;
    merged.reserve(symbols.size());
    for (std::size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] + " " + symbols[i + 1] == best_pair) {
        merged.push_back(symbols[i] + symbols[i + 1]);
        ++i;
      } else {
        merged.push_back(symbols[i]);
      }
    }
    symbols = std::move(merged);
  }
  for (const std::string& s : symbols) {
    const auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      out.push_back(it->second);
    } else {
      QS_CHECK(unk_id_ >= 0, "{}: '{}' has no token and the model has no unk_token", origin_, s);
      out.push_back(unk_id_);
    }
  }
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int64_t>& out) const {
  if (text.empty()) return;
  std::string whole;
  if (add_prefix_space_ && text[0] != ' ') whole += ' ';
  whole.append(text);
  std::vector<std::string> pieces{std::move(whole)};
  for (const auto& split : splits_) {
    std::vector<std::string> next;
    for (const std::string& p : pieces) split->apply(p, next, origin_);
    pieces = std::move(next);
  }
  const ByteMap& bytes = byte_map();
  for (const std::string& p : pieces) {
    std::string word;
    for (unsigned char c : p) word += bytes.to_char[c];
    encode_word(word, out);
  }
}

std::vector<int64_t> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  const std::size_t bad = first_invalid_utf8(text);
  QS_CHECK(bad == std::string_view::npos, "{}: the text is not UTF-8: byte {} (0x{:02x}) starts no character",
           origin_, bad, bad == std::string_view::npos ? 0 : static_cast<unsigned char>(text[bad]));
  std::vector<int64_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  // The earliest added token (the longest at one position) splits the text;
  // lstrip/rstrip tokens take the whitespace beside them.
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t found = std::string_view::npos;
    const AddedToken* which = nullptr;
    for (const AddedToken& a : added_) {
      const std::size_t at = text.find(a.content, pos);
      if (at < found) {
        found = at;
        which = &a;
      }
    }
    if (which == nullptr) {
      encode_ordinary(text.substr(pos), out);
      break;
    }
    std::size_t before_end = found, after = found + which->content.size();
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    if (which->lstrip) {
      while (before_end > pos && is_space(text[before_end - 1])) --before_end;
    }
    if (which->rstrip) {
      while (after < text.size() && is_space(text[after])) ++after;
    }
    encode_ordinary(text.substr(pos, before_end - pos), out);
    out.push_back(which->id);
    pos = after;
  }
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  const ByteMap& bytes = byte_map();
  std::string text;
  for (std::size_t k = 0; k < ids.size(); ++k) {
    const int64_t id = ids[k];
    QS_CHECK(id >= 0 && id < vocab_size(), "{}: token {} at position {} is outside the vocabulary of {}", origin_, id,
             k, vocab_size());
    const auto i = static_cast<std::size_t>(id);
    if (is_added_[i]) {
      if (!(skip_special && is_special_[i])) text += tokens_[i];
      continue;
    }
    const std::string& token = tokens_[i];
    for (std::size_t j = 0; j < token.size();) {
      const std::size_t n = char_length(token, j);
      text += static_cast<char>(bytes.to_byte.at(token.substr(j, n)));
      j += n;
    }
  }
  return text;
}

}  // namespace qs::data
