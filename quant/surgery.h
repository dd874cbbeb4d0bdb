#pragma once
// Module surgery: swap chosen Linear layers of any model for QuantLinear.
// Layers are chosen by a dotted-path pattern: `layers.6-.*_proj` selects the
// layers whose path starts with `layers.<i>.` for i >= 6 and whose remainder
// matches the regular expression `.*_proj`; `layers.0-5.*` selects i in 0..5;
// a pattern without a numeric range is a plain regular expression.
#include <functional>
#include <string>
#include <vector>

#include "nn/module.h"
#include "quant/quant_spec.h"

namespace qs::quant {

using PathFilter = std::function<bool(const std::string& path)>;

PathFilter path_pattern(const std::string& pattern);

// Replaces every nn::Linear whose dotted path passes `select` with a
// fake-mode QuantLinear (min-max grid); returns the paths replaced.
std::vector<std::string> quantize_linears(nn::Module& root, const QuantSpec& spec, const PathFilter& select);

}  // namespace qs::quant
