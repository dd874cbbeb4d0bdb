#pragma once
// --dtype of the commands that write checkpoints: how full-precision tensors are stored.
#include <string>

#include "engine/dtype.h"
#include "engine/error.h"

namespace qs::cli {

inline engine::DType weight_dtype(const std::string& name) {
  if (name == "f32") return engine::DType::f32;
  if (name == "bf16") return engine::DType::bf16;
  if (name == "f16") return engine::DType::f16;
  fail("--dtype '{}': f32, bf16 or f16", name);
}

}  // namespace qs::cli
