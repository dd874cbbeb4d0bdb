// Grid fake quantization with straight-through gradients
// (engine/ops_packed.cpp).
#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var fake_quantize_grid(const Var& w, const Tensor& scale, const Tensor& zero, const Var& alpha, double levels,
                       int64_t group) {
  const Tensor wd = w.data(), ad = alpha.defined() ? alpha.data() : Tensor();
  const Tensor out = e::fake_quantize_grid(wd, scale, zero, ad, levels, group);
  std::vector<Var> inputs{w};
  if (alpha.defined()) inputs.push_back(alpha);
  return make_result(out, "fake_quantize_grid", inputs,
                     [wd, ad, scale, zero, levels, group](const Tensor& g, const std::vector<bool>& needs) {
                       const bool need_alpha = needs.size() > 1 && needs[1];
                       e::FakeQuantGrads d =
                           e::fake_quantize_grid_backward(g, wd, scale, zero, ad, levels, group, needs[0], need_alpha);
                       std::vector<Tensor> grads{d.dw};
                       if (ad.defined()) grads.push_back(d.dalpha);
                       return grads;
                     });
}

}  // namespace qs::autograd
