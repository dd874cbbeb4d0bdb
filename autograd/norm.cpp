// LayerNorm and RMSNorm (engine/ops_norm.cpp).
#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var layer_norm(const Var& x, const Var& weight, const Var& bias, double eps) {
  Tensor xd = x.data();
  Tensor w = weight.defined() ? weight.data() : Tensor();
  Tensor b = bias.defined() ? bias.data() : Tensor();
  e::NormForward f = e::layer_norm_forward(xd, w, b, eps);
  std::vector<Var> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  Tensor y = f.y;
  f.y = Tensor();  // the backward needs only the statistics
  return make_result(y, "layer_norm", inputs, [xd, w, b, f](const Tensor& g, const std::vector<bool>&) {
    e::NormGrads gr = e::layer_norm_backward(g, xd, w, b, f);
    std::vector<Tensor> out{gr.dx};
    if (w.defined()) out.push_back(gr.dweight);
    if (b.defined()) out.push_back(gr.dbias);
    return out;
  });
}

Var rms_norm(const Var& x, const Var& weight, double eps) {
  Tensor xd = x.data();
  Tensor w = weight.defined() ? weight.data() : Tensor();
  e::NormForward f = e::rms_norm_forward(xd, w, eps);
  std::vector<Var> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  Tensor y = f.y;
  f.y = Tensor();
  return make_result(y, "rms_norm", inputs, [xd, w, f](const Tensor& g, const std::vector<bool>&) {
    e::NormGrads gr = e::rms_norm_backward(g, xd, w, f);
    std::vector<Tensor> out{gr.dx};
    if (w.defined()) out.push_back(gr.dweight);
    return out;
  });
}

}  // namespace qs::autograd
