// Gathers whose gradients scatter back (engine/ops_index.cpp).
#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var index_select(const Var& x, int64_t dim, const Tensor& idx) {
  Shape s = x.shape();
  e::DType dt = x.dtype();
  int d = engine::normalize_dim("index_select", dim, x.dim());
  return make_result(e::index_select(x.data(), d, idx), "index_select", {x},
                     [s, dt, d, idx](const Tensor& g, const std::vector<bool>&) {
                       Tensor gx = e::zeros(s, dt, g.device());
                       e::index_add_(gx, d, idx.reshape({idx.numel()}), g);
                       return std::vector<Tensor>{gx};
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

}  // namespace qs::autograd
