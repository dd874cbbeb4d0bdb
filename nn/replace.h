#pragma once
// Module surgery on linear layers: replace each LinearLayer whose dotted
// path passes a filter by what a factory returns. Quantization (quant/),
// LoRA and forward hooks are all built on it.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/linear.h"

namespace qs::nn {

using PathFilter = std::function<bool(const std::string& path)>;
// The replacement for a linear layer at a path, or nullptr to leave it (and
// look inside it).
using LayerFactory =
    std::function<std::shared_ptr<LinearLayer>(const std::shared_ptr<LinearLayer>& layer, const std::string& path)>;

// Returns the paths replaced; a replacement is not searched again.
std::vector<std::string> replace_linears(Module& root, const PathFilter& select, const LayerFactory& make);

}  // namespace qs::nn
