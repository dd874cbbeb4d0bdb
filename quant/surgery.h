#pragma once
// Module surgery: swap chosen Linear layers of any model for QuantLinear.
// Layers are chosen by a dotted-path pattern: `layers.6-.*_proj` selects the
// layers whose path starts with `layers.<i>.` for i >= 6 and whose remainder
// matches the regular expression `.*_proj`; `layers.0-5.*` selects i in 0..5;
// a pattern without a numeric range is a plain regular expression.
#include <functional>
#include <string>
#include <vector>

#include "nn/lora.h"
#include "nn/replace.h"
#include "quant/quant_spec.h"

namespace qs::quant {

using nn::PathFilter;

PathFilter path_pattern(const std::string& pattern);

// Replaces every nn::Linear whose dotted path passes `select` with a
// fake-mode QuantLinear (min-max grid); returns the paths replaced.
std::vector<std::string> quantize_linears(nn::Module& root, const QuantSpec& spec, const PathFilter& select);
// The same with frozen NF4 layers (the QLoRA base).
std::vector<std::string> nf4_linears(nn::Module& root, int64_t block, bool double_quant, const PathFilter& select);
// Frozen bf16 copies of the selected f32 linears (Bf16Linear).
std::vector<std::string> bf16_linears(nn::Module& root, const PathFilter& select);
// Wraps each selected linear layer (plain or quantized) in a LoRA adapter.
std::vector<std::string> add_lora(nn::Module& root, const nn::LoraConfig& config, const PathFilter& select);

}  // namespace qs::quant
