// ScienceQA's published layout and LLaVA's conversation JSON, and the
// official QCM-LEA conversion between them.
#include <filesystem>
#include <fstream>

#include "data/scienceqa.h"
#include "support.h"

using namespace qs::data;
using qs::test::error_of;
using qs::test::has;

namespace {
const std::filesystem::path kDir = std::filesystem::path(QS_FIXTURES) / "scienceqa";
}

TEST_CASE("scienceqa: a split loads in pid_splits order and converts to QCM-LEA as LLaVA's script writes it") {
  const std::vector<ScienceQaProblem> train = load_scienceqa(kDir, "train");
  REQUIRE(train.size() == 2);
  CHECK(train[0].pid == "5");
  CHECK(train[1].choices.size() == 3);
  CHECK(std::filesystem::exists(scienceqa_image_path(kDir, train[1])));
  // No image, empty hint (Context: N/A), a lecture with a line break, a
  // double space inside the question collapsed.
  const LlavaRecord a = to_llava_qcm_lea(train[0]);
  CHECK(a.image.empty());
  REQUIRE(a.conversations.size() == 2);
  CHECK(a.conversations[0].value ==
        "Which figure of speech is used in this text?\nThe wind whispered secrets.\nContext: N/A\n"
        "Options: (A) personification (B) hyperbole");
  CHECK(a.conversations[1].value ==
        "Figures of speech are words or phrases that use language in a nonliteral way.\n"
        "Personification gives human qualities to nonhuman things. The text uses personification: wind cannot "
        "whisper. The answer is A.");
  // An image (placeholder after the text, path pid/file), a hint, no lecture.
  const LlavaRecord b = to_llava_qcm_lea(train[1]);
  CHECK(b.image == "12/image.png");
  CHECK(b.conversations[0].from == "human");
  CHECK(b.conversations[0].value ==
        "Which animal's feet are also adapted for walking on snow?\nContext: Arctic foxes live in cold places. "
        "Their feet are covered in thick fur.\nOptions: (A) camel (B) snowshoe hare (C) koala\n<image>");
  CHECK(b.conversations[1].value == "Look at the picture of the arctic fox. The answer is B.");
  CHECK(load_scienceqa(kDir, "test")[0].split == "test");
}

TEST_CASE("scienceqa and llava json: bad files are refused naming file, record and field") {
  const std::filesystem::path root = qs::test::temp_root("sqa_bad");
  std::filesystem::create_directories(root);
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(root / name, std::ios::trunc) << text; };
  write("pid_splits.json", R"({"train": ["1"]})");
  write("problems.json", R"({"1": {"question": "q", "choices": ["a", "b"], "answer": 2, "image": null}})");
  CHECK(has(error_of([&] { load_scienceqa(root, "train"); }), "'answer' is 2, but there are 2 choices"));
  CHECK(has(error_of([&] { load_scienceqa(root, "val"); }), "missing 'val'"));
  write("problems.json", R"({"1": {"question": "q", "choices": ["a", "b"], "answer": 0, "image": "../../etc/passwd"}})");
  CHECK(has(error_of([&] { load_scienceqa(root, "train"); }), "not a file name"));
  write("problems.json", R"({"2": {}})");
  CHECK(has(error_of([&] { load_scienceqa(root, "train"); }), "lists problem '1', which is not in it"));

  write("llava.json", R"([{"id": "x", "image": "a/b.png", "conversations": [{"from": "human", "value": "<image>\nhi"}, {"from": "gpt", "value": "yo"}]}])");
  const std::vector<LlavaRecord> ok = load_llava_conversations(root / "llava.json");
  CHECK(ok[0].conversations[1].value == "yo");
  // As a training conversation: the placeholder leaves the text, the image goes first.
  const Conversation conv = llava_conversation(ok[0], "sys");
  CHECK(conv.has_image);
  CHECK(conv.system == "sys");
  REQUIRE(conv.turns.size() == 1);
  CHECK(conv.turns[0].user == "hi");
  CHECK(conv.turns[0].assistant == "yo");
  write("llava.json", R"([{"id": "t", "conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                                                        {"from": "human", "value": "c"}, {"from": "gpt", "value": "d"}]}])");
  const Conversation two = llava_conversation(load_llava_conversations(root / "llava.json")[0], "");
  CHECK(!two.has_image);
  REQUIRE(two.turns.size() == 2);
  CHECK(two.turns[1].user == "c");
  CHECK(two.turns[1].assistant == "d");
  write("llava.json", R"([{"id": "x", "conversations": [{"from": "gpt", "value": "hi"}, {"from": "human", "value": "yo"}]}])");
  CHECK(has(error_of([&] { load_llava_conversations(root / "llava.json"); }), "'from' is 'gpt', expected 'human'"));
  write("llava.json", R"([{"id": 7, "conversations": [{"from": "human", "value": "<image> hi"}, {"from": "gpt", "value": "yo"}]}])");
  CHECK(has(error_of([&] { load_llava_conversations(root / "llava.json"); }), "record 0 ('7'): '<image>' in the text but no 'image'"));
  write("llava.json", R"([{"id": "x", "image": "/abs.png", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}])");
  CHECK(has(error_of([&] { load_llava_conversations(root / "llava.json"); }), "not a path inside the image folder"));
  write("llava.json", R"({"id": "x"})");
  CHECK(has(error_of([&] { load_llava_conversations(root / "llava.json"); }), "expected a JSON array"));
  write("llava.json", R"([{"id": "x", "conversations": [{"from": "human"}, {"from": "gpt", "value": "yo"}]}])");
  CHECK(has(error_of([&] { load_llava_conversations(root / "llava.json"); }), "turn 0: missing 'value'"));
  std::filesystem::remove_all(root);
}

TEST_CASE("scienceqa: the evaluation question, answer parsing and accuracy columns follow LLaVA's and ScienceQA's scripts") {
  const std::vector<ScienceQaProblem> train = load_scienceqa(kDir, "train");
  CHECK(scienceqa_eval_question(train[1]) ==
        "<image>\nContext: Arctic foxes live in cold places. Their feet are covered in thick fur.\n"
        "Which animal's feet are also adapted for walking on snow?\nOptions: (A) camel (B) snowshoe hare (C) koala\n"
        "Answer with the option's letter from the given choices directly.");
  CHECK(scienceqa_eval_question(train[0]).rfind("Context: N/A\nWhich figure", 0) == 0);
  CHECK(parse_scienceqa_answer("B", 3) == 1);
  CHECK(parse_scienceqa_answer(" C\n", 3) == 2);
  CHECK(parse_scienceqa_answer("D", 3) == -1);  // not an option
  CHECK(parse_scienceqa_answer("Because of fur. The answer is A.", 3) == 0);
  CHECK(parse_scienceqa_answer("The answer is A. The answer is B.", 3) == -1);  // two answers
  CHECK(parse_scienceqa_answer("The answer is b.", 3) == -1);
  CHECK(parse_scienceqa_answer("The answer is B", 3) == -1);  // the pattern needs a character after the letter
  CHECK(parse_scienceqa_answer("", 3) == -1);
  CHECK(scienceqa_columns(train[0]) == std::vector<std::string>{"LAN", "NO", "G7-12"});
  CHECK(scienceqa_columns(train[1]) == std::vector<std::string>{"NAT", "TXT", "IMG", "G1-6"});
}
