#include "quant/uniform.h"

#include "engine/ops.h"

namespace qs::quant {

namespace e = qs::engine;

Tensor grouped(const Tensor& w, const QuantSpec& spec) {
  spec.check();
  QS_CHECK(w.dim() == 2, "quant: weight must be (out, in), got {}", e::describe(w));
  const int64_t out = w.size(0), in = w.size(1), g = spec.groups(in), padded = g * spec.group_size;
  Tensor x = w;
  if (padded != in) {
    Tensor last = w.slice(1, in - 1, in).expand({out, padded - in});
    x = e::concat({w, last}, 1);
  }
  return x.contiguous().view({out, g, spec.group_size});
}

std::pair<Tensor, Tensor> group_min_max(const Tensor& w, const QuantSpec& spec) {
  Tensor x = grouped(w, spec);
  return {e::min(x, 2).values, e::max(x, 2).values};
}

GroupParams params_from_range(const Tensor& lo, const Tensor& hi, const QuantSpec& spec) {
  spec.check();
  GroupParams p;
  if (spec.symmetric) {
    const double half = static_cast<double>(int64_t{1} << (spec.bits - 1));
    p.scale = e::clamp(e::maximum(e::abs(lo), e::abs(hi)) / (half - 1.0 > 0 ? half - 1.0 : 1.0), 1e-5, 1e4);
    p.zero = e::full_like(p.scale, half);
  } else {
    p.scale = e::clamp((hi - lo) / static_cast<double>(spec.levels()), 1e-5, 1e4);
    p.zero = e::round(e::neg(lo) / p.scale);
  }
  return p;
}

GroupParams minmax_params(const Tensor& w, const QuantSpec& spec) {
  auto [lo, hi] = group_min_max(w.to(e::DType::f32), spec);
  return params_from_range(lo, hi, spec);
}

Tensor quantize(const Tensor& w, const GroupParams& p, const QuantSpec& spec, const Tensor& alpha) {
  const int64_t out = w.size(0), in = w.size(1);
  Tensor x = grouped(w.to(e::DType::f32), spec);  // (out, g, G)
  Tensor s = p.scale.unsqueeze(2);
  if (alpha.defined()) {
    QS_CHECK(alpha.shape() == p.scale.shape(), "quantize: alpha {} must match the group scales {}",
             e::describe(alpha), e::describe(p.scale));
    s = s * alpha.to(e::DType::f32).unsqueeze(2);
  }
  Tensor q = e::clamp(e::round(x / s) + p.zero.unsqueeze(2), 0.0, static_cast<double>(spec.levels()));
  return q.view({out, -1}).slice(1, 0, in).to(e::DType::u8);
}

Tensor dequantize(const Tensor& codes, const GroupParams& p, const QuantSpec& spec) {
  const int64_t out = codes.size(0), in = codes.size(1);
  Tensor q = grouped(codes.to(e::DType::f32), spec);
  Tensor w = (q - p.zero.unsqueeze(2)) * p.scale.unsqueeze(2);
  return w.view({out, -1}).slice(1, 0, in).contiguous();
}

}  // namespace qs::quant
