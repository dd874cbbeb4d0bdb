#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var reshape(const Var& x, const Shape& shape) {
  Shape s = x.shape();
  return make_result(x.data().reshape(shape), "reshape", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.reshape(s)};
  });
}

Var transpose(const Var& x, int64_t d0, int64_t d1) {
  return make_result(x.data().transpose(d0, d1), "transpose", {x},
                     [d0, d1](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{g.transpose(d0, d1)};
                     });
}

Var permute(const Var& x, const std::vector<int64_t>& dims) {
  Tensor y = x.data().permute(dims);
  std::vector<int64_t> inverse(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    inverse[engine::normalize_dim("permute", dims[i], x.dim())] = static_cast<int64_t>(i);
  }
  return make_result(y, "permute", {x}, [inverse](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
}

Var slice(const Var& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  Shape s = x.shape();
  e::DType dt = x.dtype();
  return make_result(x.data().slice(dim, start, end, step), "slice", {x},
                     [s, dt, dim, start, end, step](const Tensor& g, const std::vector<bool>&) {
                       Tensor gx = e::zeros(s, dt, g.device());
                       e::copy_(gx.slice(dim, start, end, step), g);
                       return std::vector<Tensor>{gx};
                     });
}

Var expand(const Var& x, const Shape& shape) {
  Shape s = x.shape();
  return make_result(x.data().expand(shape), "expand", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{e::sum_to(g, s)};
  });
}

Var unsqueeze(const Var& x, int64_t dim) {
  Shape s = x.shape();
  return make_result(x.data().unsqueeze(dim), "unsqueeze", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.reshape(s)};
  });
}

Var squeeze(const Var& x, int64_t dim) {
  Shape s = x.shape();
  return make_result(x.data().squeeze(dim), "squeeze", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.reshape(s)};
  });
}

Var contiguous(const Var& x) {
  return make_result(x.data().contiguous(), "contiguous", {x},
                     [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{g}; });
}

Var concat(const std::vector<Var>& xs, int64_t dim) {
  std::vector<Tensor> ts;
  std::vector<int64_t> sizes;
  for (const Var& x : xs) {
    QS_CHECK(x.defined(), "concat: undefined Var");
    ts.push_back(x.data());
  }
  Tensor y = e::concat(ts, dim);
  int d = engine::normalize_dim("concat", dim, y.dim());
  for (const Tensor& t : ts) sizes.push_back(t.size(d));
  return make_result(y, "concat", xs, [d, sizes](const Tensor& g, const std::vector<bool>& needs) {
    std::vector<Tensor> grads(sizes.size());
    int64_t at = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      if (needs[i]) grads[i] = g.slice(d, at, at + sizes[i]);
      at += sizes[i];
    }
    return grads;
  });
}

}  // namespace qs::autograd
