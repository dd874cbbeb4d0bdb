#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

namespace {

// Storage offset (elements) of logical element i of t.
int64_t element_offset(const Tensor& t, int64_t i) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (i % t.size(d)) * t.strides()[d];
    i /= t.size(d);
  }
  return off;
}

}  // namespace

GradcheckResult gradcheck(const std::function<Var(const std::vector<Var>&)>& f,
                          const std::vector<Tensor>& inputs, GradcheckOptions options) {
  return gradcheck(f, inputs, {}, options);
}

GradcheckResult gradcheck(const std::function<Var(const std::vector<Var>&)>& f,
                          const std::vector<Tensor>& inputs, const std::vector<Var>& params,
                          GradcheckOptions options) {
  for (const Var& p : params) {
    QS_CHECK(p.dtype() == DType::f64 && p.is_leaf() && p.requires_grad(),
             "gradcheck: parameters must be f64 leaves that require grad, got {}",
             engine::describe(p.data()));
    p.zero_grad();
  }
  std::vector<Var> vars;
  for (const Tensor& t : inputs) vars.emplace_back(t, t.dtype() == DType::f64);
  Var out = f(vars);
  QS_CHECK(out.dtype() == DType::f64, "gradcheck: the function must return f64, got {}",
           engine::describe(out.data()));
  e::Generator gen(options.seed);
  Tensor r = e::randn(out.shape(), gen, DType::f64);
  auto objective = [&](const std::vector<Var>& vs) {
    return e::sum(e::mul(f(vs).data(), r)).item<double>();
  };

  if (out.requires_grad()) sum(mul(out, Var(r))).backward();

  // Everything to check: the inputs, then the parameters.
  std::vector<std::pair<Tensor, Var>> checked;
  for (std::size_t k = 0; k < vars.size(); ++k) {
    if (vars[k].requires_grad()) checked.emplace_back(inputs[k], vars[k]);
  }
  for (const Var& p : params) checked.emplace_back(p.data(), p);

  GradcheckResult result;
  for (std::size_t k = 0; k < checked.size(); ++k) {
    const Tensor& x = checked[k].first;
    const Var& v = checked[k].second;
    Tensor analytic = v.grad().defined() ? v.grad() : e::zeros_like(x);
    double* base = static_cast<double*>(x.storage()->data());
    std::vector<Var> consts;
    for (const Tensor& t : inputs) consts.emplace_back(t, false);
    NoGrad no_grad;
    for (int64_t i = 0; i < x.numel(); ++i) {
      double* p = base + x.offset() + element_offset(x, i);
      const double saved = *p;
      *p = saved + options.eps;
      double plus = objective(consts);
      *p = saved - options.eps;
      double minus = objective(consts);
      *p = saved;
      const double numeric = (plus - minus) / (2.0 * options.eps);
      const double a = e::element_as_double(analytic, i);
      const double err = std::abs(a - numeric);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (!(err <= options.atol + options.rtol * std::abs(numeric)) && result.ok) {
        result.ok = false;
        result.message = fmt::format(
            "checked tensor {} {} element {}: analytic {:.10g} vs numeric {:.10g} (error {:.3g})", k,
            engine::describe(x), i, a, numeric, err);
      }
    }
  }
  return result;
}

}  // namespace qs::autograd
