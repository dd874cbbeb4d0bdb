#pragma once
// Uniform affine group-wise quantization (METHOD.md's quantizer without
// gradients): min-max parameters, quantize to integer codes with an optional
// per-group factor alpha folded into the rounding, and dequantize.
#include "engine/tensor.h"
#include "quant/quant_spec.h"

namespace qs::quant {

using engine::Tensor;

struct GroupParams {
  Tensor scale;  // (out, groups) f32, s_g
  Tensor zero;   // (out, groups) f32 holding integers, z_g
};

// W (out, in) -> (out, groups, group_size), the last group padded by
// repeating its final column.
Tensor grouped(const Tensor& w, const QuantSpec& spec);
// Per-group min and max of W: each (out, groups).
std::pair<Tensor, Tensor> group_min_max(const Tensor& w, const QuantSpec& spec);

// s = clamp((hi - lo) / Q, 1e-5, 1e4), z = round(-lo / s) (asymmetric); or
// s = max(|lo|, |hi|) / (2^(b-1) - 1) clamped likewise, z = 2^(b-1) (symmetric).
// hi/lo default to the group max/min (round-to-nearest "min-max").
GroupParams params_from_range(const Tensor& lo, const Tensor& hi, const QuantSpec& spec);
GroupParams minmax_params(const Tensor& w, const QuantSpec& spec);

// codes = clamp(round(w / (s * alpha)) + z, 0, Q) as u8 (out, in); alpha
// (out, groups) or undefined (= 1).
Tensor quantize(const Tensor& w, const GroupParams& p, const QuantSpec& spec,
                const Tensor& alpha = Tensor());
// w_hat = (codes - z) * s, f32 (out, in).
Tensor dequantize(const Tensor& codes, const GroupParams& p, const QuantSpec& spec);

}  // namespace qs::quant
