#pragma once
// Learnable weight clipping calibration (METHOD.md, from OmniQuant): block by
// block, learn each group's clipping logits so the quantized block's output
// matches the full-precision block's output on calibration sequences; the
// next block is calibrated on the outputs of the already-quantized blocks.
#include <vector>

#include "nn/models/llama.h"

namespace qs::quant {

struct LwcConfig {
  int64_t epochs = 20;
  double lr = 1e-2;
  int64_t batch_size = 4;
  double clip_init = 4.0;  // sigmoid(4) = 0.982
};

struct LwcBlockReport {
  int64_t layer;
  double mse_minmax;  // held-out output MSE with round-to-nearest min-max
  double mse_lwc;     // held-out output MSE after calibration
};

// The model's block linears must be fake-mode QuantLinear layers (the others
// are left alone). calib, heldout: (N, T) token ids. Leaves every
// QuantLinear with a frozen grid.
std::vector<LwcBlockReport> calibrate_lwc(nn::Llama& model, const engine::Tensor& calib,
                                          const engine::Tensor& heldout, const LwcConfig& config);

}  // namespace qs::quant
