#pragma once
// The tuning modes of the training-step benchmarks, applied to the default
// multimodal model as bench/torch_reference.py builds them:
//   full   every parameter trains
//   lora   LoRA r 16, alpha 32, dropout 0.05 on the 7 linears of every LLM
//          block; projector trains; ViT and LLM frozen
//   qslaw  LLM linears 4-bit (group 64, min-max grid frozen); blocks with index
//          > 1 learn one scale factor per group, blocks 0-1 hold packed codes;
//          projector trains; everything else frozen
#include <cstdlib>
#include <cstring>
#include <string>

#include "nn/models/llava.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"

namespace qs::bench {

inline bool known_mode(const std::string& mode) { return mode == "full" || mode == "lora" || mode == "qslaw"; }

inline void apply_mode(nn::Llava& model, const std::string& mode) {
  if (mode == "full") return;
  constexpr int kStartLayer = 1;  // METHOD.md's strict comparison: blocks > 1 learn alpha
  auto& llm = model.llm();
  model.set_requires_grad(false);
  const auto linears = quant::path_pattern("layers.0-.*_proj");
  if (mode == "lora") {
    quant::add_lora(llm, nn::LoraConfig{.rank = 16, .alpha = 32.0, .dropout = 0.05}, linears);
  } else {
    for (const std::string& path : quant::quantize_linears(llm, quant::QuantSpec{.bits = 4, .group_size = 64}, linears)) {
      auto& q = dynamic_cast<quant::QuantLinear&>(llm.submodule(path));
      if (std::atoi(path.c_str() + std::strlen("layers.")) > kStartLayer) {  // "layers.3.attn.q_proj" -> 3
        q.enable_scale_learning();
      } else {
        q.to_real();  // frozen: packed 4-bit codes
      }
    }
  }
  model.projector().set_requires_grad(true);
}

}  // namespace qs::bench
