// SentencePiece models against reference encodings written by Debian's
// python3-sentencepiece (scripts/fixtures/make_sentencepiece.py).
#include <filesystem>
#include <fstream>

#include "data/chat_template.h"
#include "data/sentencepiece_tokenizer.h"
#include "engine/io/json_file.h"
#include "support.h"

using qs::data::SentencePieceTokenizer;
using qs::test::error_of;
using qs::test::has;

namespace {
const std::filesystem::path kDir = std::filesystem::path(QS_FIXTURES) / "tokenizers";
}

TEST_CASE("sentencepiece: a LLaMA-style model encodes and decodes as the reference library does") {
  const SentencePieceTokenizer tok = SentencePieceTokenizer::load(kDir / "llama_like.model");
  const nlohmann::json ref = qs::engine::read_json_file(kDir / "llama_like.reference.json");
  CHECK(tok.vocab_size() == ref["vocab_size"].get<int64_t>());
  CHECK(tok.bos_id() == 1);
  CHECK(tok.eos_id() == 2);
  CHECK(tok.unk_id() == 0);
  CHECK(tok.pad_id() == -1);
  for (int64_t i = 0; i < tok.vocab_size(); ++i) CHECK(tok.piece(i) == ref["pieces"][i].get<std::string>());
  CHECK(tok.piece_id("<s>") == 1);
  CHECK(tok.piece_id("no such piece") == tok.unk_id());
  for (const auto& c : ref["cases"]) {
    const std::string text = c["text"].get<std::string>();
    CAPTURE(text);
    const std::vector<int64_t> ids = tok.encode(text);
    CHECK(ids == c["ids"].get<std::vector<int64_t>>());
    CHECK(tok.decode(ids) == c["decoded"].get<std::string>());
    // LlamaTokenizer's framing: <s> first, </s> only when asked; control
    // tokens decode to nothing.
    const std::vector<int64_t> framed = tok.encode(text, true, true);
    CHECK(framed.front() == 1);
    CHECK(framed.back() == 2);
    CHECK(tok.decode(framed) == c["decoded"].get<std::string>());
  }
}

TEST_CASE("sentencepiece: missing, corrupt and oversized models and out-of-range ids are refused by name") {
  const std::filesystem::path root = qs::test::temp_root("spm_bad");
  std::filesystem::create_directories(root);
  CHECK(has(error_of([&] { SentencePieceTokenizer::load(root / "absent.model"); }), "cannot read SentencePiece model"));
  std::ofstream(root / "garbage.model") << "this is not a protobuf \xff\xfe";
  const std::string err = error_of([&] { SentencePieceTokenizer::load(root / "garbage.model"); });
  CHECK(has(err, "not a SentencePiece model"));
  CHECK(has(err, "garbage.model"));
  // A truncated real model.
  std::ifstream in(kDir / "llama_like.model", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(root / "cut.model", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CHECK(has(error_of([&] { SentencePieceTokenizer::load(root / "cut.model"); }), "not a SentencePiece model"));
  const SentencePieceTokenizer tok = SentencePieceTokenizer::load(kDir / "llama_like.model");
  CHECK(has(error_of([&] { tok.decode({5, 320}); }), "token 320 at position 1 is outside the vocabulary of 320"));
  CHECK(has(error_of([&] { tok.piece(-1); }), "outside the vocabulary"));
  std::filesystem::remove_all(root);
}

TEST_CASE("chat templates: vicuna_v1 turns tokenize as LLaVA's tokenizer_image_token does, images widened") {
  const SentencePieceTokenizer tok = SentencePieceTokenizer::load(kDir / "llama_like.model");
  const nlohmann::json ref = qs::engine::read_json_file(kDir / "llama_like.reference.json");
  for (const auto& p : ref["vicuna_v1"]) {
    const std::string text =
        qs::data::chat_text(qs::data::ChatTemplate::vicuna_v1, p["question"].get<std::string>(), p["answer"].get<std::string>());
    CHECK(text == p["text"].get<std::string>());
    CAPTURE(text);
    CHECK(qs::data::tokenize_with_images(tok, text, -200) == p["ids"].get<std::vector<int64_t>>());
    // Widened for nn::Llava: the one image token becomes 4 copies of id 0.
    std::vector<int64_t> want;
    for (int64_t id : p["ids"].get<std::vector<int64_t>>()) {
      if (id == -200) want.insert(want.end(), 4, 0);
      else want.push_back(id);
    }
    CHECK(qs::data::tokenize_with_images(tok, text, 0, 4) == want);
  }
  CHECK(qs::data::chat_text(qs::data::ChatTemplate::plain, "<image>", "A red circle.") == "<image>A red circle.\n");
  CHECK(has(error_of([] { qs::data::chat_text(qs::data::ChatTemplate::plain, "what?", "x"); }), "holds the image alone"));
  CHECK(has(error_of([] { qs::data::parse_chat_template("llama_3"); }), "unknown chat template 'llama_3'"));
}

TEST_CASE("LLaVA's preprocessing: the whole conversation tokenized, labels on each answer and its </s> only") {
  using namespace qs::data;
  const SentencePieceTokenizer tok = SentencePieceTokenizer::load(kDir / "llama_like.model");
  const int64_t image = 0;  // <unk>, as the original layout marks images
  Conversation c{{{"What color is the triangle?", "The triangle is green."}}, true, kSystemPrompt};
  const Encoded e = encode_llava_conversation(c, ChatTemplate::vicuna_v1, tok, image, 4, 512);
  const std::string text = chat_text(ChatTemplate::vicuna_v1, "<image>\nWhat color is the triangle?",
                                     "The triangle is green.");
  CHECK(e.ids == tokenize_with_images(tok, text, image, 4));
  CHECK(e.has_image);
  std::vector<int64_t> learned;
  std::size_t first = 0;
  for (std::size_t k = 0; k < e.ids.size(); ++k) {
    if (e.labels[k] == kIgnore) continue;
    if (learned.empty()) first = k;
    CHECK(e.labels[k] == e.ids[k]);
    learned.push_back(e.ids[k]);
  }
  REQUIRE(!learned.empty());
  CHECK(learned.back() == tok.eos_id());
  CHECK(tok.decode(learned) == "The triangle is green.");
  // Everything before the answer is the prompt generation starts from.
  const std::vector<int64_t> prompt = encode_llava_prompt(c, ChatTemplate::vicuna_v1, tok, image, 4);
  CHECK(prompt.size() == first);
  CHECK(std::equal(prompt.begin(), prompt.end(), e.ids.begin()));

  // Two turns: both answers learned, the second question not.
  Conversation two = c;
  two.turns.push_back({"And the circle?", "Red."});
  const Encoded t = encode_llava_conversation(two, ChatTemplate::vicuna_v1, tok, image, 4, 512);
  std::vector<int64_t> answers;
  int64_t runs = 0;
  for (std::size_t k = 0; k < t.ids.size(); ++k) {
    if (t.labels[k] == kIgnore) continue;
    runs += k == 0 || t.labels[k - 1] == kIgnore;
    answers.push_back(t.ids[k]);
  }
  CHECK(runs == 2);
  CHECK(tok.decode(answers) == "The triangle is green. Red.");

  // plain: the image, then the caption and "\n" learned.
  Conversation caption{{{"", "A red circle above a blue square."}}, true, ""};
  const Encoded p = encode_llava_conversation(caption, ChatTemplate::plain, tok, image, 4, 512);
  CHECK(p.ids[0] == tok.bos_id());
  CHECK(std::count(p.ids.begin(), p.ids.begin() + 5, image) == 4);
  CHECK(p.labels[4] == kIgnore);
  CHECK(p.labels[5] == p.ids[5]);
  CHECK(p.labels.back() == p.ids.back());
  CHECK(encode_llava_prompt(caption, ChatTemplate::plain, tok, image, 4).size() == 5);

  // max_len cuts the answer, never the prompt.
  const Encoded cut = encode_llava_conversation(c, ChatTemplate::vicuna_v1, tok, image, 4, static_cast<int64_t>(first) + 2);
  CHECK(cut.ids.size() == first + 2);
  const std::string err = error_of([&] { encode_llava_conversation(c, ChatTemplate::vicuna_v1, tok, image, 4, 10); });
  CHECK(has(err, "max_len is 10"));
  CHECK(has(error_of([&] { encode_llava_conversation(two, ChatTemplate::plain, tok, image, 4, 512); }), "one turn"));
}
