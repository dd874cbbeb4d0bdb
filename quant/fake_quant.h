#pragma once
// Differentiable fake quantization (METHOD.md): rounding uses the
// straight-through estimator, clamping passes no gradient where it clips.
//
// LWC (calibration): hi = sigmoid(u) max(w), lo = sigmoid(l) min(w),
//   s = clamp((hi - lo) / Q, 1e-5, 1e4), z = round(-lo / s) (no gradient),
//   w_hat = (clamp(round(w / s) + z, 0, Q) - z) s      -> gradients to u, l.
// QSLAW (frozen grid s, z; learned factor alpha per group):
//   w_hat = (clamp(round(w / (s alpha)) + z, 0, Q) - z) s  -> d w_hat / d alpha = -w / alpha^2.
#include "autograd/var.h"
#include "quant/uniform.h"

namespace qs::quant {

using autograd::Var;

// W (out, in) as (out, groups, group_size), padded like grouped().
Var grouped(const Var& w, const QuantSpec& spec);

// upper/lower: (out, groups) clipping logits.
Var fake_quantize_lwc(const Var& w, const Var& upper, const Var& lower, const QuantSpec& spec);
// alpha: (out, groups) or undefined (plain round-to-nearest on the grid).
// One fused op for f32 weights (autograd::fake_quantize_grid).
Var fake_quantize_grid(const Var& w, const GroupParams& grid, const Var& alpha, const QuantSpec& spec);
// The same as a composite of elementwise autograd ops: the reference the
// fused op is tested against, and the path for f64 weights (gradcheck).
Var fake_quantize_grid_composite(const Var& w, const GroupParams& grid, const Var& alpha, const QuantSpec& spec);
// The grid LWC calibration settles on: (s, z) from the current clipping.
GroupParams lwc_params(const Tensor& w, const Tensor& upper, const Tensor& lower, const QuantSpec& spec);

}  // namespace qs::quant
