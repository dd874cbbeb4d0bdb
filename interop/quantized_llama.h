#pragma once
// Quantize on load: a Hugging Face LLaMA checkpoint (f16/bf16/f32) streamed
// block by block into real quantized layers (packed min-max codes or NF4), so
// the f32 model never exists. Peak memory is the quantized model, the f32
// embedding and head, and one f32 block.
#include <filesystem>
#include <string>

#include "interop/hf_llama.h"
#include "quant/quant_spec.h"

namespace qs::interop {

struct QuantizeOnLoad {
  enum class Kind { minmax, nf4 };
  Kind kind = Kind::minmax;
  quant::QuantSpec spec{.bits = 4, .group_size = 64};  // minmax
  int64_t nf4_block = 64;
  std::string select = ".*_proj";  // the linears of each block to quantize (a regular expression)
  // minmax only: a calibrated grid (LWC's, from the calibrate stage) instead
  // of the min-max one: a qslaw .h5 or a .safetensors file holding
  // "<layer>.scale" and "<layer>.zero" (out, groups) for every quantized
  // layer under nn::Llama's names ("layers.3.attn.q_proj.scale"); other
  // tensors in it are ignored.
  std::filesystem::path grid_file;
};

// Errors name the checkpoint and list tensors it lacks, has in excess or has
// mis-shaped, as load_hf_llama's do.
LoadedLlama load_hf_llama_quantized(const std::filesystem::path& folder, const QuantizeOnLoad& options);

}  // namespace qs::interop
