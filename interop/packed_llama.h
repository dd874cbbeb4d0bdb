#pragma once
// The deployed QSLAW model on disk: a LLaMA whose quantized linears keep their
// packed integer codes (alpha already folded in), in a safetensors checkpoint
// with a Hugging Face config.json. For each quantized linear, in place of
// "<name>.weight":
//   <name>.qweight  U8 (out, ceil(in * bits / 8)): each row one bit string,
//                   code j in bits [j*bits, (j+1)*bits), least significant
//                   bit first; rows start on a byte boundary (4-bit: two
//                   codes per byte, low nibble first)
//   <name>.scales   F32 (out, in / group_size)
//   <name>.zeros    F32 (out, in / group_size), integers
// and the weight is w[o, i] = (code[o, i] - zeros[o, g]) * scales[o, g] with
// g = i / group_size. config.json's "quantization_config" says
// {"quant_method": "qslaw", "bits", "group_size", "modules": [quantized
// linears' names]}. Everything else is stored as in save_hf_llama. LoRA
// adapters stay separate, as QSLAW deploys them: beside the checkpoint in
// PEFT's files (peft_adapter.h), unmerged.
#include <filesystem>

#include "interop/hf_llama.h"

namespace qs::interop {

// Quantized linears must be packed (QuantLinear::to_real) and share one
// bits/group size; an NF4 layer is refused (save_hf_llama dequantizes it).
// Full-precision tensors are written as `dtype` (f32, bf16 or f16).
void save_packed_llama(const nn::Llama& model, const HfLlama& info, const std::filesystem::path& folder,
                       engine::DType dtype = engine::DType::f32);

// Builds the model block by block with packed QuantLinears where the
// checkpoint has codes, so memory never holds the f32 model; attaches the
// adapter when the folder has one. Errors name the file and the tensor or key.
LoadedLlama load_packed_llama(const std::filesystem::path& folder);

}  // namespace qs::interop
