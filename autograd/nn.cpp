#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var softmax(const Var& x) {
  Tensor y = e::softmax(x.data());
  return make_result(y, "softmax", {x}, [y](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{e::softmax_backward(y, g)};
  });
}

Var log_softmax(const Var& x) {
  Tensor y = e::log_softmax(x.data());
  return make_result(y, "log_softmax", {x}, [y](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{e::log_softmax_backward(y, g)};
  });
}

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

Var embedding(const Var& weight, const Tensor& ids) {
  Shape ws = weight.shape();
  e::DType dt = weight.dtype();
  return make_result(e::embedding(weight.data(), ids), "embedding", {weight},
                     [ws, dt, ids](const Tensor& g, const std::vector<bool>&) {
                       Tensor gw = e::zeros(ws, dt, g.device());
                       e::index_add_(gw, 0, ids.reshape({ids.numel()}), g.reshape({-1, ws[1]}));
                       return std::vector<Tensor>{gw};
                     });
}

Var swiglu(const Var& gate, const Var& up) {
  Tensor gd = gate.data(), ud = up.data();
  return make_result(e::swiglu(gd, ud), "swiglu", {gate, up},
                     [gd, ud](const Tensor& g, const std::vector<bool>&) {
                       e::SwigluGrads d = e::swiglu_backward(g, gd, ud);
                       return std::vector<Tensor>{d.dgate, d.dup};
                     });
}

Var dropout(const Var& x, double p, e::Generator& gen) {
  const uint64_t seed = gen.seed(), offset = gen.advance(static_cast<uint64_t>(x.numel()));
  Tensor keep;
  Tensor out = e::dropout(x.data(), p, seed, offset, &keep);
  return make_result(out, "dropout", {x}, [p, keep](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{e::dropout_backward(g, keep, p)};
  });
}

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

Var attention(const Var& q, const Var& k, const Var& v, double scale, bool causal,
              const Tensor& key_padding) {
  Tensor qd = q.data(), kd = k.data(), vd = v.data();
  e::AttentionForward f = e::attention_forward(qd, kd, vd, scale, causal, key_padding);
  return make_result(f.out, "attention", {q, k, v},
                     [qd, kd, vd, f, scale, causal, key_padding](const Tensor& g, const std::vector<bool>&) {
                       e::AttentionGrads d = e::attention_backward(g, qd, kd, vd, f, scale, causal, key_padding);
                       return std::vector<Tensor>{d.dq, d.dk, d.dv};
                     });
}

Var rope(const Var& x, const Tensor& positions, double theta) {
  // A rotation: its transpose (the backward) is the rotation by minus the angle.
  return make_result(e::rope(x.data(), positions, theta, false), "rope", {x},
                     [positions, theta](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{e::rope(g, positions, theta, true)};
                     });
}

}  // namespace qs::autograd
