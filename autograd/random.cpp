// Dropout (engine/ops_random.cpp): the backward pass reuses the forward's mask.
#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var dropout(const Var& x, double p, e::Generator& gen) {
  const uint64_t seed = gen.seed(), offset = gen.advance(static_cast<uint64_t>(x.numel()));
  Tensor keep;
  Tensor out = e::dropout(x.data(), p, seed, offset, &keep);
  return make_result(out, "dropout", {x}, [p, keep](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{e::dropout_backward(g, keep, p)};
  });
}

}  // namespace qs::autograd
