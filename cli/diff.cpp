#include "cli/diff.h"

#include <fmt/core.h>

#include <cmath>

#include "engine/error.h"
#include "engine/io/tensor_file.h"

namespace qs::cli {

int diff(const DiffRequest& r) {
  QS_CHECK(r.rtol >= 0 && r.atol >= 0, "diff: --rtol and --atol must be >= 0");
  const engine::TensorFile a = engine::load_tensor_file(r.a), b = engine::load_tensor_file(r.b);
  int problems = 0;
  for (const auto& [name, t] : a.tensors) {
    if (!b.tensors.count(name)) {
      fmt::print("{}: only in {}\n", name, r.a.string());
      ++problems;
    }
  }
  for (const auto& [name, t] : b.tensors) {
    if (!a.tensors.count(name)) {
      fmt::print("{}: only in {}\n", name, r.b.string());
      ++problems;
    }
  }
  double worst_abs = 0.0, worst_rel = 0.0, worst_l2 = 0.0;
  std::string worst_name;
  int64_t compared = 0, elements = 0;
  for (const auto& [name, ta] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end()) continue;
    const engine::Tensor& tb = it->second;
    if (ta.shape() != tb.shape()) {
      fmt::print("{}: shape {} vs {}\n", name, engine::shape_str(ta.shape()), engine::shape_str(tb.shape()));
      ++problems;
      continue;
    }
    // Every dtype compared in f64 (codes and indices exactly).
    const engine::Tensor xa = ta.to(engine::DType::f64).contiguous(), xb = tb.to(engine::DType::f64).contiguous();
    const double* pa = xa.data<double>();
    const double* pb = xb.data<double>();
    int64_t outside = 0;
    double max_abs = 0.0, max_rel = 0.0, diff2 = 0.0, norm2 = 0.0;
    bool nan_mismatch = false;
    for (int64_t i = 0; i < xa.numel(); ++i) {
      const double d = std::fabs(pa[i] - pb[i]);
      nan_mismatch = nan_mismatch || std::isnan(pa[i]) != std::isnan(pb[i]);
      if (d > r.atol + r.rtol * std::fabs(pb[i])) ++outside;
      max_abs = std::max(max_abs, d);
      if (d > 0) max_rel = std::max(max_rel, d / std::max(std::fabs(pa[i]), std::fabs(pb[i])));
      diff2 += d * d;
      norm2 += pb[i] * pb[i];
    }
    // --norm: the tensor as a whole (||a - b|| <= rtol ||b|| + atol), which a
    // value near zero cannot fail on its own.
    const double rel_l2 = norm2 > 0 ? std::sqrt(diff2 / norm2) : std::sqrt(diff2);
    worst_l2 = std::max(worst_l2, rel_l2);
    if (r.norm) outside = std::sqrt(diff2) > r.atol + r.rtol * std::sqrt(norm2) ? 1 : 0;
    if (nan_mismatch) outside = std::max<int64_t>(outside, 1);
    ++compared;
    elements += xa.numel();
    if (worst_name.empty() || max_rel > worst_rel) {
      worst_rel = max_rel;
      worst_name = name;
    }
    worst_abs = std::max(worst_abs, max_abs);
    if (outside > 0) {
      if (r.norm) {
        fmt::print("{}: ||a-b|| / ||b|| = {:.3g} beyond rtol {:g} (atol {:g})\n", name, rel_l2, r.rtol, r.atol);
      } else {
        fmt::print("{}: {} of {} values differ beyond rtol {:g} + atol {:g} (max |a-b| {:.3g}, max relative {:.3g})\n", name,
                   outside, xa.numel(), r.rtol, r.atol, max_abs, max_rel);
      }
      ++problems;
    }
  }
  fmt::print("{} tensors ({} values) compared: max |a-b| {:.3g}, max relative {:.3g}{}, max ||a-b||/||b|| {:.3g}; {}\n",
             compared, elements, worst_abs, worst_rel, worst_name.empty() ? "" : fmt::format(" (in {})", worst_name),
             worst_l2,
             problems ? fmt::format("{} differ", problems)
                      : fmt::format("equal within rtol {:g}, atol {:g}{}", r.rtol, r.atol, r.norm ? " (per tensor norm)" : ""));
  return problems ? 1 : 0;
}

}  // namespace qs::cli
