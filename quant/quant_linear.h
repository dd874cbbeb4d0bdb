#pragma once
// QuantLinear: a linear layer whose weight is group-wise quantized.
//  fake mode: full-precision master weight (frozen), quantizer applied in
//    forward with the STE; learnable clipping (LWC calibration) or a frozen
//    grid with learnable per-group factors alpha (QSLAW).
//  real mode: packed integer codes with per-group scales and zeros; forward
//    and the input gradient dequantize tiles of rows on the fly (never the
//    whole matrix); no gradient to the codes.
#include "nn/linear.h"
#include "quant/uniform.h"

namespace qs::quant {

using autograd::Var;

enum class QuantMode { fake, real };

class QuantLinear : public nn::LinearLayer {
 public:
  // Fake mode, min-max grid, from a trained layer (its weight is copied and frozen).
  QuantLinear(const nn::Linear& source, const QuantSpec& spec);

  Var forward(const Var& x) override;
  using nn::Module::to;
  void to(engine::Device device) override;  // the grid moves too
  int64_t in_features() const override { return in_; }
  int64_t out_features() const override { return out_; }
  QuantMode mode() const { return mode_; }
  const QuantSpec& spec() const { return spec_; }

  // Fake mode: learnable clipping logits u, l, initialised to `init` (sigmoid(4) = 0.982).
  void enable_clipping(double init = 4.0);
  // Fake mode: fixes (s, z) from the current clipping (or min-max) and stops
  // training the clipping factors.
  void freeze_grid();
  // Fake mode: fixes the grid to given (s, z), e.g. a calibration's result
  // read back from its packed checkpoint.
  void set_grid(const GroupParams& grid);
  // Fake mode on a frozen grid: alpha (out, groups) = 1, learnable.
  void enable_scale_learning();
  void reset_alpha();  // back to 1
  Var alpha() const { return alpha_; }
  const GroupParams& grid() const { return grid_; }

  // Folds alpha into the integer codes and packs them: the deployed layer has
  // no extra parameters. The master weight is dropped.
  void to_real();
  // The weight as used in forward (dequantized), (out, in) f32.
  Tensor effective_weight() const override;

  // Fake mode: compute with the unquantized master weight (the full-precision
  // reference that calibration matches).
  void set_bypass(bool on);

  int64_t weight_bytes() const;  // codes + scales + zeros (real), or the f32 master (fake)
  double bits_per_parameter() const;

 private:
  Var forward_real(const Var& x) const;

  QuantSpec spec_;
  QuantMode mode_ = QuantMode::fake;
  int64_t in_, out_;
  Var weight_, bias_, clip_upper_, clip_lower_, alpha_;
  GroupParams grid_;
  bool grid_frozen_ = false;
  bool bypass_ = false;
};

}  // namespace qs::quant
