#pragma once
// Weight initialisation shared by the layers.
#include <cstdint>

#include "engine/rng.h"

namespace qs::nn {

struct InitConfig {
  double std = 0.02;  // normal(0, std) for weights
  // GPT-2/LLaMA practice: projections that write into the residual stream
  // (attention out, MLP down) get std / sqrt(2 * n_layers).
  bool scaled_residual = true;
  int64_t n_layers = 1;
  uint64_t seed = 0;

  double residual_std() const;
};

}  // namespace qs::nn
