#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

namespace {
// Shorthand for a one-input function whose gradient is g * local(x, y).
template <class Local>
Var unary_fn(const char* name, const Var& x, Tensor y, Local local) {
  Tensor xd = x.data();
  return make_result(y, name, {x},
                     [xd, y, local](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {local(g, xd, y)};
                     });
}
}  // namespace

Var add(const Var& a, const Var& b) {
  Shape sa = a.shape(), sb = b.shape();
  return make_result(e::add(a.data(), b.data()), "add", {a, b},
                     [sa, sb](const Tensor& g, const std::vector<bool>& needs) {
                       return std::vector<Tensor>{needs[0] ? e::sum_to(g, sa) : Tensor(),
                                                  needs[1] ? e::sum_to(g, sb) : Tensor()};
                     });
}

Var sub(const Var& a, const Var& b) {
  Shape sa = a.shape(), sb = b.shape();
  return make_result(e::sub(a.data(), b.data()), "sub", {a, b},
                     [sa, sb](const Tensor& g, const std::vector<bool>& needs) {
                       return std::vector<Tensor>{needs[0] ? e::sum_to(g, sa) : Tensor(),
                                                  needs[1] ? e::neg(e::sum_to(g, sb)) : Tensor()};
                     });
}

Var mul(const Var& a, const Var& b) {
  Tensor ad = a.data(), bd = b.data();
  return make_result(e::mul(ad, bd), "mul", {a, b},
                     [ad, bd](const Tensor& g, const std::vector<bool>& needs) {
                       return std::vector<Tensor>{
                           needs[0] ? e::sum_to(e::mul(g, bd), ad.shape()) : Tensor(),
                           needs[1] ? e::sum_to(e::mul(g, ad), bd.shape()) : Tensor()};
                     });
}

Var div(const Var& a, const Var& b) {
  Tensor ad = a.data(), bd = b.data();
  return make_result(e::div(ad, bd), "div", {a, b},
                     [ad, bd](const Tensor& g, const std::vector<bool>& needs) {
                       Tensor ga, gb;
                       if (needs[0]) ga = e::sum_to(e::div(g, bd), ad.shape());
                       // d(a/b)/db = -a / b^2
                       if (needs[1]) gb = e::sum_to(e::neg(e::div(e::mul(g, ad), e::mul(bd, bd))), bd.shape());
                       return std::vector<Tensor>{ga, gb};
                     });
}

Var add(const Var& a, double b) {
  return make_result(a.data() + b, "add_scalar", {a},
                     [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{g}; });
}

Var mul(const Var& a, double b) {
  return make_result(a.data() * b, "mul_scalar", {a}, [b](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g * b};
  });
}

Var pow(const Var& a, const Var& b) {
  Tensor ad = a.data(), bd = b.data();
  Tensor y = e::pow(ad, bd);
  return make_result(y, "pow", {a, b}, [ad, bd, y](const Tensor& g, const std::vector<bool>& needs) {
    Tensor ga, gb;
    // d/da = b a^(b-1);  d/db = a^b log a
    if (needs[0]) ga = e::sum_to(e::mul(g, e::mul(bd, e::pow(ad, e::sub(bd, e::ones_like(bd))))), ad.shape());
    if (needs[1]) gb = e::sum_to(e::mul(g, e::mul(y, e::log(ad))), bd.shape());
    return std::vector<Tensor>{ga, gb};
  });
}

Var pow(const Var& a, double p) {
  Tensor ad = a.data();
  return make_result(e::pow(ad, p), "pow_scalar", {a}, [ad, p](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{e::mul(g, e::pow(ad, p - 1.0) * p)};
  });
}

Var neg(const Var& x) {
  return make_result(e::neg(x.data()), "neg", {x},
                     [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{e::neg(g)}; });
}

Var exp(const Var& x) {
  return unary_fn("exp", x, e::exp(x.data()), [](const Tensor& g, const Tensor&, const Tensor& y) {
    return e::mul(g, y);
  });
}

Var log(const Var& x) {
  return unary_fn("log", x, e::log(x.data()), [](const Tensor& g, const Tensor& xd, const Tensor&) {
    return e::div(g, xd);
  });
}

Var sqrt(const Var& x) {
  return unary_fn("sqrt", x, e::sqrt(x.data()), [](const Tensor& g, const Tensor&, const Tensor& y) {
    return e::div(g, y * 2.0);
  });
}

Var rsqrt(const Var& x) {
  // d x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3
  return unary_fn("rsqrt", x, e::rsqrt(x.data()), [](const Tensor& g, const Tensor&, const Tensor& y) {
    return e::mul(g, e::mul(e::mul(y, y), y) * -0.5);
  });
}

Var tanh(const Var& x) {
  return unary_fn("tanh", x, e::tanh(x.data()), [](const Tensor& g, const Tensor&, const Tensor& y) {
    return e::mul(g, e::sub(e::ones_like(y), e::mul(y, y)));
  });
}

Var sigmoid(const Var& x) {
  return unary_fn("sigmoid", x, e::sigmoid(x.data()), [](const Tensor& g, const Tensor&, const Tensor& y) {
    return e::mul(g, e::mul(y, e::sub(e::ones_like(y), y)));
  });
}

Var relu(const Var& x) {
  return unary_fn("relu", x, e::relu(x.data()), [](const Tensor& g, const Tensor& xd, const Tensor&) {
    return e::where(e::gt(xd, 0.0), g, e::zeros_like(g));
  });
}

Var gelu(const Var& x, GeluApprox approx) {
  return unary_fn("gelu", x, e::gelu(x.data(), approx),
                  [approx](const Tensor& g, const Tensor& xd, const Tensor&) {
                    return e::mul(g, e::gelu_grad(xd, approx));
                  });
}

Var silu(const Var& x) {
  return unary_fn("silu", x, e::silu(x.data()), [](const Tensor& g, const Tensor& xd, const Tensor&) {
    return e::mul(g, e::silu_grad(xd));
  });
}

Var quick_gelu(const Var& x) {
  return unary_fn("quick_gelu", x, e::quick_gelu(x.data()), [](const Tensor& g, const Tensor& xd, const Tensor&) {
    return e::mul(g, e::quick_gelu_grad(xd));
  });
}

Var abs(const Var& x) {
  return unary_fn("abs", x, e::abs(x.data()), [](const Tensor& g, const Tensor& xd, const Tensor&) {
    return e::mul(g, e::sign(xd));
  });
}

Var clamp(const Var& x, double lo, double hi) {
  return unary_fn("clamp", x, e::clamp(x.data(), lo, hi),
                  [lo, hi](const Tensor& g, const Tensor& xd, const Tensor&) {
                    Tensor inside = e::mul(e::ge(xd, lo), e::le(xd, hi));  // u8 and
                    return e::where(inside, g, e::zeros_like(g));
                  });
}

Var round_ste(const Var& x) {
  return make_result(e::round(x.data()), "round_ste", {x},
                     [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{g}; });
}

Var where(const Tensor& cond, const Var& a, const Var& b) {
  Shape sa = a.shape(), sb = b.shape();
  return make_result(e::where(cond, a.data(), b.data()), "where", {a, b},
                     [cond, sa, sb](const Tensor& g, const std::vector<bool>& needs) {
                       Tensor zero = e::zeros({}, g.dtype(), g.device());
                       return std::vector<Tensor>{
                           needs[0] ? e::sum_to(e::where(cond, g, zero), sa) : Tensor(),
                           needs[1] ? e::sum_to(e::where(cond, zero, g), sb) : Tensor()};
                     });
}

Var masked_fill(const Var& x, const Tensor& mask, double value) {
  return make_result(e::masked_fill(x.data(), mask, value), "masked_fill", {x},
                     [mask](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{e::masked_fill(g, mask, 0.0)};
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

}  // namespace qs::autograd
