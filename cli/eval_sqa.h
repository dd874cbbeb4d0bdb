#pragma once
// qslaw eval-sqa: a LLaVA checkpoint from outside on ScienceQA, as LLaVA's
// evaluation scripts run it, optionally with its LLM quantized first.
#include <filesystem>
#include <string>

namespace qs::cli {

struct EvalSqaRequest {
  std::filesystem::path model;      // llava-hf folder, or the original layout's
  std::filesystem::path clip;       // the original layout's vision tower (else empty)
  std::filesystem::path tokenizer;  // tokenizer.model; default: model/tokenizer.model
  std::filesystem::path scienceqa;  // problems.json, pid_splits.json, images/
  std::string split = "test";
  int64_t limit = 0;
  std::string quantize = "none";  // none | minmax4 | minmax3 | minmax2 | nf4
  std::filesystem::path predictions;  // JSON Lines of every answer, if set
};

int eval_sqa(const EvalSqaRequest& request);

}  // namespace qs::cli
