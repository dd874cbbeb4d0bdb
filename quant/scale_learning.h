#pragma once
// QSLAW's scale learning, wired into a model (METHOD.md): which quantized
// layers learn a factor alpha per weight group (the blocks after
// start_layer), alpha's state for saving and loading, the trainable set,
// and folding alpha into the integer codes. Experiment stages call these;
// the method lives here.
#include <functional>
#include <map>
#include <string>

#include "nn/optim/optimizer.h"
#include "quant/quant_linear.h"

namespace qs::quant {

// Visits every QuantLinear under `root` with its dotted path.
void for_each_quant(nn::Module& root, const std::function<void(const std::string&, QuantLinear&)>& f);
// Block index of a path "layers.<i>.<...>", or -1 for anything else.
int64_t block_index(const std::string& path);

// Alpha = 1 on every quantized layer (with a frozen grid) in the blocks with
// index > start_layer (the official comparison is strict); returns how many.
int64_t enable_scale_learning(nn::Module& root, int64_t start_layer);
// Every layer's alpha (out, groups), by path; empty without scale learning.
std::map<std::string, Tensor> alpha_state(nn::Module& root);
// Copies saved alpha into the layers that learn it; a missing or mis-shaped
// entry is an error naming `source` and the layer.
void load_alpha(nn::Module& root, const std::map<std::string, Tensor>& alpha, const std::string& source);
void reset_alpha(nn::Module& root);         // every alpha back to 1
void set_alpha_trainable(nn::Module& root);  // requires_grad on every alpha
// Every alpha as one trainable optimizer group, named `prefix` + layer path +
// ".alpha", without weight decay (alpha is a factor around 1, not a weight
// to shrink towards 0).
nn::ParamGroup alpha_group(nn::Module& root, double lr, const std::string& prefix = "");
// Alpha folded into the codes, every quantized layer packed (real mode).
void fold_alpha(nn::Module& root);
// Mean |alpha - 1| over every group: how far the learned scales moved.
double mean_alpha_shift(nn::Module& root);

}  // namespace qs::quant
