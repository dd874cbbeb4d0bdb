#include "data/english.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "engine/error.h"

namespace qs::data {

namespace {

uint64_t fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// Drops every [...] and \...\ span (etymologies, source tags, pronunciations)
// and the braces GCIDE puts around cross-references.
std::string strip_markup(const std::string& s) {
  std::string out;
  int depth = 0;
  bool in_pron = false;
  for (char c : s) {
    if (c == '\\') {
      in_pron = !in_pron;
      continue;
    }
    if (in_pron) continue;
    if (c == '[') ++depth;
    else if (c == ']' && depth > 0) --depth;
    else if (depth == 0 && c != '{' && c != '}') out += c;
  }
  return out;
}

// Citations like "--Shak." or "--Sir W. Scott.": from "--" to the end of
// the name, which is what follows up to the next sentence break.
std::string strip_citations(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "--") == 0 && i + 2 < s.size() && std::isupper(static_cast<unsigned char>(s[i + 2]))) {
      std::size_t j = i + 2;
      while (j < s.size() && !(s[j] == '.' && (j + 1 == s.size() || s[j + 1] == ' ') &&
                               !(j >= 2 && s[j - 2] == ' '))) {  // "W." initials do not end it
        ++j;
      }
      i = j;
      continue;
    }
    out += s[i];
  }
  return out;
}

bool is_grammar_token(const std::string& t) {
  if (t.empty()) return true;
  if (t.front() == '(' && t.back() == ')') return true;                      // (Anat.)
  if (t.size() <= 6 && (t.back() == '.' || t.back() == ',' || t.back() == ';')) return true;  // n. v. t. 2.
  return t == "&" || t == "," || t == ";";
}

std::string definition_body(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> tokens;
  for (std::string t; in >> t;) tokens.push_back(t);
  std::size_t first = 0;
  while (first < tokens.size() && is_grammar_token(tokens[first])) ++first;
  std::string out;
  for (std::size_t i = first; i < tokens.size(); ++i) out += (out.empty() ? "" : " ") + tokens[i];
  return out;
}

// Long entries are cut at the last sentence end before `limit` bytes.
std::string cap_length(std::string s, std::size_t limit) {
  if (s.size() <= limit) return s;
  const std::size_t cut = s.rfind(". ", limit);
  return cut == std::string::npos || cut < limit / 4 ? s.substr(0, limit) : s.substr(0, cut + 1);
}

bool has_words(const std::string& s) {
  int letters = 0;
  for (unsigned char c : s) letters += std::islower(c) ? 1 : 0;
  return letters >= 12;
}

std::string read_maybe_gzip(const std::filesystem::path& file) {
  gzFile f = gzopen(file.c_str(), "rb");
  QS_CHECK(f != nullptr, "english: cannot open {}", file.string());
  std::string out;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      fail("english: {} is not a readable gzip/dictzip or text file ({})", file.string(), msg);
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  // A stream cut short reads as a clean end of file with Z_BUF_ERROR set.
  int code = Z_OK;
  const std::string msg = gzerror(f, &code);
  gzclose(f);
  QS_CHECK(code == Z_OK || code == Z_STREAM_END, "english: {} is truncated or corrupt ({})", file.string(), msg);
  return out;
}

}  // namespace

std::string clean_text(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len > 0 && i + static_cast<std::size_t>(len) <= text.size();
    for (int k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]) >> 6) == 0x2;
    if (!valid) {
      ++i;
      continue;
    }
    if (len == 1 && (std::isspace(c) || c < 0x20 || c == 0x7f)) {
      space = !out.empty();
      ++i;
      continue;
    }
    if (space) out += ' ';
    space = false;
    out.append(text, i, static_cast<std::size_t>(len));
    i += static_cast<std::size_t>(len);
  }
  return out;
}

std::vector<std::string> read_wordnet(const std::filesystem::path& dir) {
  std::vector<std::string> docs;
  int files = 0;
  for (const char* part : {"data.noun", "data.verb", "data.adj", "data.adv"}) {
    const auto path = dir / part;
    if (!std::filesystem::exists(path)) continue;
    ++files;
    std::ifstream in(path);
    QS_CHECK(in.good(), "english: cannot open {}", path.string());
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty() || line[0] == ' ') continue;  // the license header is indented
      const std::size_t bar = line.find(" | ");
      std::istringstream fields(line.substr(0, bar));
      std::string offset, lex, type, count_hex;
      fields >> offset >> lex >> type >> count_hex;
      int64_t count = 0;
      try {
        std::size_t used = 0;
        count = std::stoll(count_hex, &used, 16);
        QS_CHECK(used == count_hex.size(), "bad count");
      } catch (const std::exception&) {
        count = -1;
      }
      QS_CHECK(bar != std::string::npos && !offset.empty() && std::isdigit(static_cast<unsigned char>(offset[0])) &&
                   count > 0,
               "english: {}:{} is not a WordNet data line (expected 'offset lex type count word ... | gloss')",
               path.string(), line_no);
      std::vector<std::string> words;
      for (int64_t w = 0; w < count; ++w) {
        std::string word, lex_id;
        fields >> word >> lex_id;
        QS_CHECK(!word.empty(), "english: {}:{} lists {} words but has fewer", path.string(), line_no, count);
        if (const auto paren = word.find('('); paren != std::string::npos) word.erase(paren);  // "(a)" markers
        std::replace(word.begin(), word.end(), '_', ' ');
        if (std::find(words.begin(), words.end(), word) == words.end()) words.push_back(word);
      }
      std::string head;
      for (const std::string& w : words) head += (head.empty() ? "" : ", ") + w;
      std::string gloss = trim(line.substr(bar + 3));
      if (gloss.empty()) continue;
      if (gloss.back() != '.' && gloss.back() != '"' && gloss.back() != '!') gloss += '.';
      docs.push_back(clean_text(head + ": " + gloss));
    }
  }
  QS_CHECK(files > 0, "english: no WordNet data files (data.noun, data.verb, data.adj, data.adv) in {}", dir.string());
  return docs;
}

std::vector<std::string> read_gcide(const std::filesystem::path& file) {
  QS_CHECK(std::filesystem::exists(file), "english: GCIDE file {} does not exist (install dict-gcide)", file.string());
  const std::string text = read_maybe_gzip(file);
  std::vector<std::string> docs;
  std::string headword;
  int64_t entries = 0;
  auto emit = [&](const std::string& block) {
    std::string body = definition_body(trim(strip_citations(strip_markup(block))));
    body = cap_length(clean_text(body), 800);
    if (!headword.empty() && has_words(body)) docs.push_back(headword + ": " + body);
  };
  std::istringstream in(text);
  std::string line, block;
  bool block_is_entry = false;
  auto flush = [&] {
    if (!block.empty() && (block_is_entry || !headword.empty())) emit(block);
    block.clear();
    block_is_entry = false;
  };
  while (std::getline(in, line)) {
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if (block.empty() && !std::isspace(static_cast<unsigned char>(line[0]))) {
      // "Abdomen \Ab*do"men\, n. ...": a new headword, up to its pronunciation.
      const std::size_t pron = line.find(" \\");
      if (pron != std::string::npos && pron > 0 && line.find('\\', pron + 2) != std::string::npos) {
        headword = clean_text(line.substr(0, pron));
        block_is_entry = true;
        ++entries;
        block = line.substr(pron);
        continue;
      }
      headword.clear();  // a database header or other unindented text
      continue;
    }
    if (!block_is_entry && headword.empty()) continue;
    block += " " + line;
  }
  flush();
  QS_CHECK(entries > 0, "english: {} holds no dictionary entries (expected dictd text: 'Word \\pron\\, n. definition')",
           file.string());
  return docs;
}

EnglishText load_english(const EnglishConfig& c) {
  QS_CHECK(c.val_fraction > 0 && c.val_fraction < 1, "english: val_fraction must be in (0, 1), got {}", c.val_fraction);
  QS_CHECK(c.max_documents >= 0, "english: max_documents must be >= 0, got {}", c.max_documents);
  std::vector<std::string> docs;
  if (!c.wordnet.empty()) docs = read_wordnet(c.wordnet);
  if (!c.gcide.empty()) {
    std::vector<std::string> g = read_gcide(c.gcide);
    docs.insert(docs.end(), std::make_move_iterator(g.begin()), std::make_move_iterator(g.end()));
  }
  // Deduplicate, then order by a seeded hash: the subset and the split are
  // a function of each text and the seed alone.
  std::unordered_set<std::string> seen;
  std::vector<std::pair<uint64_t, std::string>> keyed;
  for (std::string& d : docs) {
    if (!seen.insert(d).second) continue;
    keyed.emplace_back(fnv1a(d, c.seed), std::move(d));
  }
  std::sort(keyed.begin(), keyed.end());
  if (c.max_documents > 0 && static_cast<int64_t>(keyed.size()) > c.max_documents) {
    keyed.resize(static_cast<std::size_t>(c.max_documents));
  }
  EnglishText out;
  const uint64_t threshold = static_cast<uint64_t>(c.val_fraction * 18446744073709551615.0);
  for (auto& [h, d] : keyed) {
    (fnv1a(d, c.seed ^ 0x5A17ull) < threshold ? out.val : out.train).push_back(std::move(d));
  }
  return out;
}

}  // namespace qs::data
