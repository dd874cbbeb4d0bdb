#pragma once
// A model's weights as a full-precision copy of it would hold them: each
// linear layer's (LoRA-adapted, quantized, or plain) computation written back
// as one plain weight (and bias), every other parameter as it is. This is
// what "merge the adapters and export in f16/bf16" means for any mix of
// Linear, LoraLinear, QuantLinear and Nf4Linear.
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/linear.h"

namespace qs::interop {

// The outermost linear layers by path: a LoraLinear, not the base it wraps;
// a QuantLinear, not its parts. Exporters treat each as one weight.
std::vector<std::pair<std::string, const nn::LinearLayer*>> outermost_linears(const nn::Module& model);
// Whether `path` lies strictly below the module at `prefix`.
bool is_below(const std::string& path, const std::string& prefix);
// The one bias parameter at or below a linear layer (wrappers keep the
// wrapped layer's), or an undefined tensor.
engine::Tensor linear_bias(const nn::Module& linear);

// One tensor of the merged model, made on demand, so that an export streams
// a model larger than memory in its f32 form one tensor at a time.
struct MergedTensor {
  std::string name;
  engine::Shape shape;
  std::function<engine::Tensor()> make;  // f32, on the CPU
};
std::vector<MergedTensor> merged_tensors(const nn::Module& model);

// All of them made. Names are those of an unadapted, unquantized model ("layers.0.attn.q_proj.weight",
// never "...q_proj.base.weight" or "...lora_a"); tensors are f32 on the CPU.
std::map<std::string, engine::Tensor> merged_weights(const nn::Module& model);

}  // namespace qs::interop
