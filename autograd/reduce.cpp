#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

namespace {
// g has x's shape with `dim` reduced (kept or dropped): broadcast it back.
Tensor expand_back(const Tensor& g, const Shape& shape, int dim, bool keepdim) {
  Tensor gk = keepdim ? g : g.unsqueeze(dim);
  return gk.expand(shape);
}
}  // namespace

Var sum(const Var& x) {
  Shape s = x.shape();
  return make_result(e::sum(x.data()), "sum", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.reshape(Shape(s.size(), 1)).expand(s)};
  });
}

Var sum(const Var& x, int64_t dim, bool keepdim) {
  Shape s = x.shape();
  int d = engine::normalize_dim("sum", dim, x.dim());
  return make_result(e::sum(x.data(), d, keepdim), "sum_dim", {x},
                     [s, d, keepdim](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{expand_back(g, s, d, keepdim)};
                     });
}

Var sum(const Var& x, const std::vector<int64_t>& dims, bool keepdim) {
  Shape s = x.shape();
  Shape kept = s;
  for (int64_t d : dims) kept[engine::normalize_dim("sum", d, x.dim())] = 1;
  return make_result(e::sum(x.data(), dims, keepdim), "sum_dims", {x},
                     [s, kept](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{g.reshape(kept).expand(s)};
                     });
}

Var mean(const Var& x) {
  Shape s = x.shape();
  const double n = static_cast<double>(x.numel());
  return make_result(e::mean(x.data()), "mean", {x}, [s, n](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{(g / n).reshape(Shape(s.size(), 1)).expand(s)};
  });
}

Var mean(const Var& x, int64_t dim, bool keepdim) {
  Shape s = x.shape();
  int d = engine::normalize_dim("mean", dim, x.dim());
  const double n = static_cast<double>(s[d]);
  return make_result(e::mean(x.data(), d, keepdim), "mean_dim", {x},
                     [s, d, keepdim, n](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{expand_back(g / n, s, d, keepdim)};
                     });
}

Var max(const Var& x, int64_t dim, bool keepdim) {
  Shape s = x.shape();
  int d = engine::normalize_dim("max", dim, x.dim());
  e::ValuesIndices r = e::max(x.data(), d, true);
  Tensor idx = r.indices;
  Tensor values = keepdim ? r.values : r.values.squeeze(d);
  return make_result(values, "max_dim", {x}, [s, d, keepdim, idx](const Tensor& g, const std::vector<bool>&) {
    // One-hot of the arg-max along d, then the gradient routed through it.
    Shape pos_shape(s.size(), 1);
    pos_shape[d] = s[d];
    Tensor positions =
        e::arange(0, static_cast<double>(s[d]), 1, e::DType::i64, g.device()).view(pos_shape);
    Tensor hit = e::eq(positions, idx);
    Tensor gk = keepdim ? g : g.unsqueeze(d);
    return std::vector<Tensor>{e::where(hit, gk.expand(s), e::zeros({}, g.dtype(), g.device()))};
  });
}

Var max(const Var& x) { return max(reshape(x, {x.numel()}), 0, false); }

Var var(const Var& x, int64_t dim, int64_t correction, bool keepdim) {
  Tensor xd = x.data();
  int d = engine::normalize_dim("var", dim, x.dim());
  const double denom = static_cast<double>(x.size(d) - correction);
  return make_result(e::var(xd, d, correction, keepdim), "var_dim", {x},
                     [xd, d, keepdim, denom](const Tensor& g, const std::vector<bool>&) {
                       // d var / dx_i = 2 (x_i - mean) / (n - correction)
                       Tensor centered = e::sub(xd, e::mean(xd, d, true));
                       Tensor gk = keepdim ? g : g.unsqueeze(d);
                       return std::vector<Tensor>{e::mul(centered, gk) * (2.0 / denom)};
                     });
}

Var var(const Var& x) { return var(reshape(x, {x.numel()}), 0, 1, false);
}

}  // namespace qs::autograd
