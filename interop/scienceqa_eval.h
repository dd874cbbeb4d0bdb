#pragma once
// ScienceQA evaluated as LLaVA's scripts do it, on any nn::Llava: each
// problem's question (scienceqa_eval_question) in the vicuna_v1 template,
// tokenized with the image widened to the tower's tokens, the image padded to
// a square with the mean color and preprocessed as CLIPImageProcessor does,
// greedy generation, the answer parsed; accuracy in ScienceQA's columns.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "data/scienceqa.h"
#include "data/sentencepiece_tokenizer.h"
#include "nn/models/llava.h"
#include "vision/preprocess.h"

namespace qs::interop {

struct SqaEvalOptions {
  std::string split = "test";
  int64_t limit = 0;            // the first N problems of the split; 0: all
  int64_t max_new_tokens = 8;   // the answer is a letter
  vision::PreprocessConfig preprocess;  // size: the tower's image size
};

struct SqaPrediction {
  std::string pid, text;
  int64_t choice = -1;  // -1: malformed
  bool correct = false;
};

struct SqaEvalResult {
  int64_t total = 0, correct = 0, malformed = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> columns;  // correct, total
  std::vector<SqaPrediction> predictions;
  double accuracy() const { return total ? 100.0 * static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

SqaEvalResult evaluate_scienceqa(nn::Llava& model, const data::SentencePieceTokenizer& tokenizer,
                                 const std::filesystem::path& scienceqa, const SqaEvalOptions& options);

}  // namespace qs::interop
