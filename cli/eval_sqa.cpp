#include "cli/eval_sqa.h"

#include <fmt/format.h>

#include <chrono>
#include <fstream>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "interop/hf_llava.h"
#include "interop/scienceqa_eval.h"
#include "quant/surgery.h"
#include "quant/quant_linear.h"
#include "vision/vit.h"

namespace qs::cli {

int eval_sqa(const EvalSqaRequest& r) {
  const std::filesystem::path tok_path = r.tokenizer.empty() ? r.model / "tokenizer.model" : r.tokenizer;
  const auto tokenizer = data::SentencePieceTokenizer::load(tok_path);
  interop::LoadedLlava m = interop::load_llava(r.model, r.clip);
  const nn::PathFilter proj = quant::path_pattern(".*_proj");
  if (r.quantize == "nf4") {
    quant::nf4_linears(m.model->llm(), 64, true, proj);
  } else if (r.quantize.rfind("minmax", 0) == 0) {
    const int bits = std::atoi(r.quantize.c_str() + 6);
    QS_CHECK(bits == 2 || bits == 3 || bits == 4 || bits == 8, "--quantize '{}': minmax2/3/4/8 or nf4", r.quantize);
    for (const std::string& path : quant::quantize_linears(m.model->llm(), {.bits = bits, .group_size = 64}, proj)) {
      dynamic_cast<quant::QuantLinear&>(m.model->llm().submodule(path)).to_real();
    }
  } else {
    QS_CHECK(r.quantize == "none", "--quantize '{}': none, minmax2/3/4/8 or nf4", r.quantize);
  }
  interop::SqaEvalOptions options;
  options.split = r.split;
  options.limit = r.limit;
  options.preprocess.size = dynamic_cast<vision::VisionTransformer&>(m.model->vision()).config().image_size;
  const auto t0 = std::chrono::steady_clock::now();
  const interop::SqaEvalResult res = interop::evaluate_scienceqa(*m.model, tokenizer, r.scienceqa, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("ScienceQA {} ({} problems), LLM {}: accuracy {:.2f}% ({} malformed), {:.1f} s\n", r.split, res.total,
             r.quantize, res.accuracy(), res.malformed, seconds);
  fmt::print("|");
  for (const char* c : {"NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12"}) fmt::print(" {} |", c);
  fmt::print(" Avg |\n|");
  for (int i = 0; i < 9; ++i) fmt::print(" ---: |");
  fmt::print("\n|");
  for (const char* c : {"NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12"}) {
    auto it = res.columns.find(c);
    if (it == res.columns.end() || it->second.second == 0) {
      fmt::print(" - |");
    } else {
      fmt::print(" {:.2f} |", 100.0 * static_cast<double>(it->second.first) / static_cast<double>(it->second.second));
    }
  }
  fmt::print(" {:.2f} |\n", res.accuracy());
  if (!r.predictions.empty()) {
    std::string lines;
    for (const auto& p : res.predictions) {
      lines += nlohmann::json{{"pid", p.pid}, {"text", p.text}, {"choice", p.choice}, {"correct", p.correct}}.dump(
                   -1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    engine::write_file_atomically(r.predictions, lines);
    fmt::print("predictions: {}\n", r.predictions.string());
  }
  return 0;
}

}  // namespace qs::cli
