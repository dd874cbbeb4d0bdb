// Softmax and log-softmax (engine/ops_softmax.cpp).
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

}  // namespace qs::autograd
