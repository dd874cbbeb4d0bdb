// Byte-level BPE tokenizer.json files against the reference encodings of
// scripts/fixtures/make_bpe_tokenizer.py, and the files the reader refuses.
#include <filesystem>
#include <fstream>

#include "data/bpe_tokenizer.h"
#include "engine/io/json_file.h"
#include "support.h"

using qs::data::BpeTokenizer;
using qs::test::error_of;
using qs::test::has;

namespace {

const std::filesystem::path kDir = std::filesystem::path(QS_FIXTURES) / "tokenizers";

void check_reference(const std::string& name) {
  const BpeTokenizer tok = BpeTokenizer::load(kDir / (name + ".json"));
  const nlohmann::json ref = qs::engine::read_json_file(kDir / (name + ".reference.json"));
  for (const auto& c : ref) {
    const std::string text = c["text"].get<std::string>();
    CAPTURE(text);
    const std::vector<int64_t> ids = tok.encode(text, c["add_bos"].get<bool>());
    CHECK(ids == c["ids"].get<std::vector<int64_t>>());
    // Byte-level BPE is lossless: decoding gives the text back (GPT-2's
    // pre-tokenizer adds a space before each stretch of text, which stays).
    const std::string bos = c["add_bos"].get<bool>() ? tok.decode({tok.bos_id()}) : "";
    if (name == "bpe_llama3") CHECK(tok.decode(ids) == bos + text);
  }
}

// A copy of a fixture with `edit` applied to its JSON.
std::filesystem::path edited(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json doc = qs::engine::read_json_file(kDir / "bpe_llama3.json");
  edit(doc);
  const auto path = qs::test::temp_root("bpe_" + name) / "tokenizer.json";
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << doc.dump();
  return path;
}

}  // namespace

TEST_CASE("bpe tokenizer: LLaMA-3's layout (Split + ByteLevel, string merges, ignore_merges) matches the reference") {
  check_reference("bpe_llama3");
  const BpeTokenizer tok = BpeTokenizer::load(kDir / "bpe_llama3.json");
  CHECK(tok.bos_id() == tok.token_id("<|begin_of_text|>"));
  CHECK(tok.bos_id() == 516);
  CHECK(tok.vocab_size() == 520);
  CHECK(tok.token_id("no such token") == -1);
  const std::vector<int64_t> ids = tok.encode("<|begin_of_text|>hi<|eot_id|>");
  CHECK(ids.front() == 516);
  CHECK(ids.back() == tok.token_id("<|eot_id|>"));
  CHECK(tok.decode(ids, /*skip_special=*/true) == "hi");
  CHECK(tok.decode({tok.token_id("<image>")}, true) == "<image>");  // not special: kept
}

TEST_CASE("bpe tokenizer: added tokens with lstrip/rstrip take the whitespace beside them") {
  const BpeTokenizer plain = BpeTokenizer::load(kDir / "bpe_llama3.json");
  const BpeTokenizer strip = BpeTokenizer::load(edited("strip", [](auto& d) {
    d["added_tokens"][3]["lstrip"] = true;
    d["added_tokens"][3]["rstrip"] = true;
  }));
  const int64_t image = plain.token_id("<image>");
  std::vector<int64_t> want = plain.encode("a");
  want.push_back(image);
  for (int64_t id : plain.encode("b")) want.push_back(id);
  CHECK(strip.encode("a  <image>\n b") == want);
  CHECK(plain.encode("a  <image>\n b") != want);
}

TEST_CASE("bpe tokenizer: GPT-2's layout (ByteLevel's own pattern, prefix space, pair merges) matches the reference") {
  check_reference("bpe_gpt2");
  const BpeTokenizer tok = BpeTokenizer::load(kDir / "bpe_gpt2.json");
  CHECK(tok.bos_id() == -1);
  CHECK(tok.decode(tok.encode("Café, 12 🙂")) == " Café, 12 🙂");
  CHECK(tok.encode(" x") == tok.encode("x"));  // the prefix space is not doubled
}

TEST_CASE("bpe tokenizer: bad files and bad text are refused by name") {
  std::string e = error_of([] { BpeTokenizer::load(kDir / "missing.json"); });
  CHECK(has(e, "missing.json"));
  e = error_of([] { BpeTokenizer::load(edited("unigram", [](auto& d) { d["model"]["type"] = "Unigram"; })); });
  CHECK(has(e, "'type'"));
  CHECK(has(e, "Unigram"));
  e = error_of([] { BpeTokenizer::load(edited("normalizer", [](auto& d) { d["normalizer"] = {{"type", "NFC"}}; })); });
  CHECK(has(e, "normalizer"));
  e = error_of([] { BpeTokenizer::load(edited("fallback", [](auto& d) { d["model"]["byte_fallback"] = true; })); });
  CHECK(has(e, "byte_fallback"));
  e = error_of([] { BpeTokenizer::load(edited("merge", [](auto& d) { d["model"]["merges"][3] = "x"; })); });
  CHECK(has(e, "merge 3"));
  e = error_of([] { BpeTokenizer::load(edited("merge_token", [](auto& d) { d["model"]["merges"][0] = "Ā ā"; })); });
  CHECK(has(e, "not in the vocabulary"));
  e = error_of([] { BpeTokenizer::load(edited("alphabet", [](auto& d) { d["model"]["vocab"]["a b"] = 600; })); });
  CHECK(has(e, "byte-level alphabet"));
  e = error_of([] { BpeTokenizer::load(edited("gap", [](auto& d) { d["added_tokens"][3]["id"] = 700; })); });
  CHECK(has(e, "no token has id"));
  e = error_of([] { BpeTokenizer::load(edited("dup", [](auto& d) { d["model"]["vocab"]["zz"] = 5; })); });
  CHECK(has(e, "id 5 belongs to both"));
  e = error_of([] {
    BpeTokenizer::load(edited("pattern", [](auto& d) { d["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(\\p{L"; }));
  });
  CHECK(has(e, "does not compile"));
  e = error_of([] {
    BpeTokenizer::load(edited("behavior", [](auto& d) { d["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }));
  });
  CHECK(has(e, "Isolated"));
  e = error_of([] { BpeTokenizer::load(edited("metaspace", [](auto& d) { d["pre_tokenizer"] = {{"type", "Metaspace"}}; })); });
  CHECK(has(e, "Metaspace"));
  e = error_of([] { BpeTokenizer::load(edited("huge_id", [](auto& d) { d["model"]["vocab"]["zz"] = 1LL << 40; })); });
  CHECK(has(e, "not an integer in"));

  const BpeTokenizer tok = BpeTokenizer::load(kDir / "bpe_llama3.json");
  e = error_of([&] { tok.encode(std::string("ok \xff\xfe bad")); });
  CHECK(has(e, "byte 3"));
  e = error_of([&] { tok.encode(std::string("ab\xc3")); });  // a character cut short
  CHECK(has(e, "byte 2"));
  e = error_of([&] { tok.encode(std::string("\xc0\xafx")); });  // an overlong '/'
  CHECK(has(e, "byte 0"));
  e = error_of([&] { tok.decode({1, 99999}); });
  CHECK(has(e, "99999"));
}
