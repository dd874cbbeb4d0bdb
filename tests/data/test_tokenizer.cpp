#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "support.h"

using namespace qs::data;

namespace {
const Tokenizer& trained() {
  static Tokenizer tok = [] {
    CorpusConfig c;
    c.documents = 400;
    return Tokenizer::train(make_corpus(c).train, 600);
  }();
  return tok;
}
std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("qslaw_test_" + name);
}
}  // namespace

TEST_CASE("pre-tokenisation keeps a word's leading space and splits classes") {
  auto chunks = split_chunks("The red  star, 12 sides!\nOk");
  std::vector<std::string> got(chunks.begin(), chunks.end());
  CHECK(got == std::vector<std::string>{"The", " red", " ", " star", ",", " 12", " sides", "!", "\n", "Ok"});
}

TEST_CASE("training reaches the requested vocabulary and compresses the corpus") {
  const Tokenizer& tok = trained();
  CHECK(tok.vocab_size() == 600);
  std::string text = corpus_document(0, 3);
  auto ids = tok.encode(text);
  CHECK(ids.size() * 2 < text.size());
  CHECK(tok.decode(ids) == text);
}

TEST_CASE("encode and decode round-trip any UTF-8 and any bytes") {
  const Tokenizer& tok = trained();
  for (std::string s : {std::string("héllo wörld — ∑ 🙂 日本語"), std::string("  tabs\tand\nnewlines  "),
                        std::string("<image> is plain text unless asked"), std::string("")}) {
    CHECK(tok.decode(tok.encode(s)) == s);
  }
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(255 - i));
  CHECK(tok.decode(tok.encode(bytes)) == bytes);
}

TEST_CASE("special tokens are parsed only when asked") {
  const Tokenizer& tok = trained();
  auto ids = tok.encode("<s>A red star<image></s>", true);
  CHECK(ids.front() == Tokenizer::kBos);
  CHECK(ids.back() == Tokenizer::kEos);
  CHECK(std::count(ids.begin(), ids.end(), Tokenizer::kImage) == 1);
  CHECK(tok.decode(ids, true) == "A red star");
  auto plain = tok.encode("<image>");
  CHECK(std::count(plain.begin(), plain.end(), Tokenizer::kImage) == 0);
}

TEST_CASE("a tokenizer saves to JSON and loads back identical") {
  const Tokenizer& tok = trained();
  auto path = temp_path("tok.json");
  tok.save(path);
  Tokenizer back = Tokenizer::load(path);
  CHECK(back.vocab_size() == tok.vocab_size());
  std::string text = corpus_document(1, 9);
  CHECK(back.encode(text) == tok.encode(text));
  std::filesystem::remove(path);
}

TEST_CASE("corrupt tokenizer files are refused with the file named") {
  auto path = temp_path("bad_tok.json");
  {
    std::ofstream(path) << "{ not json";
  }
  CHECK_THROWS_WITH_AS(Tokenizer::load(path), doctest::Contains("not valid JSON"), qs::Error);
  {
    std::ofstream(path) << R"({"format": "qslaw-bpe", "special_tokens": ["<s>", "</s>", "<pad>", "<image>", "<unk>"], "merges": [[5, 9999]]})";
  }
  CHECK_THROWS_WITH_AS(Tokenizer::load(path), doctest::Contains("merge 0"), qs::Error);
  CHECK_THROWS_WITH_AS(Tokenizer::load(temp_path("missing.json")), doctest::Contains("cannot open"), qs::Error);
  // Found by fuzzing: keys of the wrong JSON type escaped as nlohmann errors.
  for (const char* text : {R"({"format": ["qslaw-bpe"]})", R"({"format": "qslaw-bpe", "special_tokens": [[1, 2]]})",
                           R"({"format": "qslaw-bpe", "special_tokens": "<s>"})"}) {
    CAPTURE(text);
    std::ofstream(path) << text;
    CHECK_THROWS_WITH_AS(Tokenizer::load(path), doctest::Contains("bad_tok.json"), qs::Error);
  }
  const auto fuzzed = std::filesystem::path(QS_FIXTURES) / "fuzz/tokenizer_wrong_type.json";
  CHECK_THROWS_WITH_AS(Tokenizer::load(fuzzed), doctest::Contains("tokenizer_wrong_type.json"), qs::Error);
  std::filesystem::remove(path);
}
