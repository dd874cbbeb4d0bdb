#pragma once
// QuantLinear: a linear layer whose weight is group-wise quantized.
// Its grid (scale, zero) lives only in its buffers, so to(), state_dict()
// and load_state_dict() carry it like every other tensor, and the forward
// always reads what was loaded. The layer is in one of three modes:
//   grid      full-precision master weight (frozen), fake-quantized in
//             forward on the buffers' grid (min-max until a calibration's
//             grid is fixed), with a learnable factor alpha per group once
//             scale learning is on (QSLAW);
//   clipping  LWC calibration: the grid follows learnable clipping logits
//             on every forward, until freeze_grid() writes it to the buffers;
//   packed    deployed: integer codes packed per row with the grid; forward
//             and the input gradient dequantize tiles of rows on the fly
//             (never the whole matrix); the master weight is gone.
#include "nn/linear.h"
#include "quant/uniform.h"

namespace qs::quant {

using autograd::Var;

enum class QuantMode { grid, clipping, packed };

class QuantLinear : public nn::LinearLayer {
 public:
  // Grid mode on the min-max grid, from a trained layer (its weight is
  // copied and frozen).
  QuantLinear(const nn::Linear& source, const QuantSpec& spec);

  Var forward(const Var& x) override;
  int64_t in_features() const override { return in_; }
  int64_t out_features() const override { return out_; }
  QuantMode mode() const { return mode_; }
  const QuantSpec& spec() const { return spec_; }
  // The grid the forward uses (the buffers themselves, not copies); in
  // clipping mode, the grid freeze_grid() would fix now.
  GroupParams grid() const;

  // Grid mode without alpha -> clipping mode: learnable clipping logits
  // u, l initialised to `init` (sigmoid(4) = 0.982).
  void enable_clipping(double init = 4.0);
  // Clipping mode -> grid mode: the grid from the current clipping is
  // written to the buffers and the clipping factors stop training.
  void freeze_grid();
  // Grid mode: fixes the grid to given (s, z), e.g. a calibration's result
  // read back from its packed checkpoint.
  void set_grid(const GroupParams& grid);
  // Grid mode: alpha (out, groups) = 1, learnable.
  void enable_scale_learning();
  void reset_alpha();  // back to 1
  Var alpha() const { return alpha_; }

  // Grid mode -> packed mode: alpha folded into the integer codes, which are
  // packed; the deployed layer has no extra parameters.
  void to_real();
  // The weight as used in forward (dequantized), (out, in) f32.
  Tensor effective_weight() const override;

  // Grid or clipping mode: compute with the unquantized master weight (the
  // full-precision reference that calibration matches). An evaluation
  // switch, not a mode: it leaves the quantizer's state alone.
  void set_bypass(bool on);

  int64_t weight_bytes() const;  // codes + scales + zeros (packed), or the f32 master
  double bits_per_parameter() const;

 private:
  Var quantized_weight() const;  // grid or clipping mode, differentiable
  Var forward_packed(const Var& x) const;

  QuantSpec spec_;
  QuantMode mode_ = QuantMode::grid;
  int64_t in_, out_;
  Var weight_, bias_, clip_upper_, clip_lower_, alpha_;
  bool bypass_ = false;
};

}  // namespace qs::quant
