#include "quant/fake_quant.h"

#include "autograd/functions.h"
#include "engine/ops.h"

namespace qs::quant {

namespace ag = qs::autograd;
namespace e = qs::engine;

Var grouped(const Var& w, const QuantSpec& spec) {
  spec.check();
  QS_CHECK(w.dim() == 2, "quant: weight must be (out, in), got {}", e::describe(w.data()));
  const int64_t out = w.size(0), in = w.size(1), g = spec.groups(in), padded = g * spec.group_size;
  Var x = w;
  if (padded != in) x = ag::concat({w, ag::expand(ag::slice(w, 1, in - 1, in), {out, padded - in})}, 1);
  return ag::reshape(x, {out, g, spec.group_size});
}

namespace {

// The grid quantizer on grouped weights: s3 broadcasts as (out, g, 1).
Var round_to_grid(const Var& xg, const Var& step, const Var& s3, const Tensor& z3, const QuantSpec& spec,
                  int64_t out, int64_t in) {
  Var q = ag::clamp(ag::round_ste(xg / step) + Var(z3), 0.0, static_cast<double>(spec.levels()));
  Var w_hat = (q - Var(z3)) * s3;
  return ag::slice(ag::reshape(w_hat, {out, -1}), 1, 0, in);
}

}  // namespace

Var fake_quantize_lwc(const Var& w, const Var& upper, const Var& lower, const QuantSpec& spec) {
  const int64_t out = w.size(0), in = w.size(1);
  Var xg = grouped(w, spec);
  auto [wmin, wmax] = group_min_max(w.data(), spec);  // constants: w is frozen in calibration
  QS_CHECK(upper.shape() == wmin.shape(), "fake_quantize_lwc: clipping factors {} must be (out, groups) = {}",
           e::describe(upper.data()), e::describe(wmin));
  Var s;
  Tensor z;
  if (spec.symmetric) {
    const double half = static_cast<double>(int64_t{1} << (spec.bits - 1));
    Var hi = ag::sigmoid(upper) * Var(e::maximum(e::abs(wmin), e::abs(wmax)));
    s = ag::clamp(hi * (1.0 / std::max(half - 1.0, 1.0)), 1e-5, 1e4);
    z = e::full_like(wmin, half);
  } else {
    Var hi = ag::sigmoid(upper) * Var(wmax);
    Var lo = ag::sigmoid(lower) * Var(wmin);
    s = ag::clamp((hi - lo) * (1.0 / static_cast<double>(spec.levels())), 1e-5, 1e4);
    z = e::round(e::neg(lo.data()) / s.data());  // plain rounding: no gradient through z
  }
  Var s3 = ag::unsqueeze(s, 2);
  return round_to_grid(xg, s3, s3, z.unsqueeze(2), spec, out, in);
}

Var fake_quantize_grid(const Var& w, const GroupParams& grid, const Var& alpha, const QuantSpec& spec) {
  if (w.dtype() != e::DType::f32 || grid.scale.dtype() != e::DType::f32) {
    return fake_quantize_grid_composite(w, grid, alpha, spec);
  }
  spec.check();
  return ag::fake_quantize_grid(w, grid.scale, grid.zero, alpha, static_cast<double>(spec.levels()), spec.group_size);
}

Var fake_quantize_grid_composite(const Var& w, const GroupParams& grid, const Var& alpha, const QuantSpec& spec) {
  const int64_t out = w.size(0), in = w.size(1);
  Var xg = grouped(w, spec);
  Var s3(grid.scale.unsqueeze(2));
  Var step = alpha.defined() ? s3 * ag::unsqueeze(alpha, 2) : s3;
  return round_to_grid(xg, step, s3, grid.zero.unsqueeze(2), spec, out, in);
}

GroupParams lwc_params(const Tensor& w, const Tensor& upper, const Tensor& lower, const QuantSpec& spec) {
  auto [wmin, wmax] = group_min_max(w, spec);
  if (spec.symmetric) {
    Tensor m = e::maximum(e::abs(wmin), e::abs(wmax)) * e::sigmoid(upper);
    return params_from_range(e::neg(m), m, spec);
  }
  return params_from_range(e::sigmoid(lower) * wmin, e::sigmoid(upper) * wmax, spec);
}

}  // namespace qs::quant
