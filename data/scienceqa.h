#pragma once
// Outside datasets in their published layouts:
//  - ScienceQA: problems.json (pid -> problem), pid_splits.json (split ->
//    pids), images/<split>/<pid>/<image>;
//  - LLaVA's conversation JSON: [{"id", "image"?, "conversations":
//    [{"from": "human"|"gpt", "value"}, ...]}], "<image>" in a human turn.
// ScienceQA converts to LLaVA conversations in the official QCM-LEA format
// (LLaVA's scripts/convert_sqa_to_llava.py): the human turn "question
// \nContext: hint\nOptions: (A) .. (B) .." (+ "\n<image>"), the answer
// "lecture solution The answer is X.". Files are untrusted: errors name the
// file, the record and the field.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/conversation.h"

namespace qs::data {

struct ScienceQaProblem {
  std::string pid;
  std::string question, hint, lecture, solution;
  std::vector<std::string> choices;  // 2 to 5
  int64_t answer = 0;                // index into choices
  std::string image;                 // file name under images/<split>/<pid>/, or empty
  std::string subject, grade, split;
};

// The problems of one split, in pid_splits.json's order.
std::vector<ScienceQaProblem> load_scienceqa(const std::filesystem::path& folder, const std::string& split);

struct ConversationTurn {
  std::string from;  // "human" or "gpt"
  std::string value;
};
struct LlavaRecord {
  std::string id;
  std::string image;  // relative to the image folder, or empty
  std::vector<ConversationTurn> conversations;
};

LlavaRecord to_llava_qcm_lea(const ScienceQaProblem& problem);
// The question as LLaVA's ScienceQA evaluation asks it (model_vqa_science
// with --single-pred-prompt over llava_test_CQM-A.json): "<image>\n" first
// for image problems, "Context: ..\n<question>\nOptions: (A) .. (B) ..", then
// "Answer with the option's letter from the given choices directly."
std::string scienceqa_eval_question(const ScienceQaProblem& problem);
// The chosen option's index from a generated answer: the text a single
// letter of the options, or one "The answer is X." in it (as
// eval_science_qa.py parses); -1 when neither (malformed).
int64_t parse_scienceqa_answer(const std::string& text, std::size_t n_choices);
// ScienceQA's accuracy columns a problem counts in: NAT/SOC/LAN by subject,
// TXT (a hint), IMG (an image), NO (neither), G1-6 or G7-12.
std::vector<std::string> scienceqa_columns(const ScienceQaProblem& problem);

// The image's path: folder/images/<split>/<pid>/<image>.
std::filesystem::path scienceqa_image_path(const std::filesystem::path& folder, const ScienceQaProblem& problem);

// LLaVA's JSON: turns alternate human, gpt, ...; at most one "<image>", only
// in a human turn and only in a record with an image; image paths stay
// inside the image folder.
std::vector<LlavaRecord> load_llava_conversations(const std::filesystem::path& path);

// A record as a training conversation: human/gpt pairs as turns, the image
// (if any) before the first question, as LLaVA's preprocess_multimodal moves
// "<image>" to the front of its turn (the placeholder and the line break
// beside it leave the text).
Conversation llava_conversation(const LlavaRecord& record, const std::string& system);

// The official QCM-LEA conversion's two halves for any question: the input
// "{question}\nContext: {hint or N/A}\nOptions: (A) .. (B) .." and the output
// "{lecture} {solution} The answer is X." (double spaces collapsed, ends
// stripped, the "Question: " and "Answer: " prefixes dropped as the script's
// replace() drops them).
std::string qcm_input(const std::string& question, const std::string& hint, const std::vector<std::string>& choices);
std::string qcm_lea_output(const std::string& lecture, const std::string& solution, int64_t answer);

}  // namespace qs::data
