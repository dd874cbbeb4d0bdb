#include "autograd/checkpoint.h"

namespace qs::autograd {

Var checkpoint(const std::function<Var(const std::vector<Var>&)>& fn,
               const std::vector<Var>& inputs) {
  Tensor out;
  {
    NoGrad no_grad;
    out = fn(inputs).data();
  }
  // The node's inputs are only the Vars passed in; parameters used inside fn
  // are leaves and receive their gradients directly during the recompute.
  return make_result(out, "checkpoint", inputs, [fn, inputs](const Tensor& g, const std::vector<bool>& needs) {
    std::vector<Var> fresh;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      fresh.emplace_back(inputs[i].data(), needs[i]);
    }
    Var y = fn(fresh);
    std::vector<Tensor> grads(inputs.size());
    if (y.requires_grad()) {
      y.backward(g);
      for (std::size_t i = 0; i < fresh.size(); ++i) {
        if (needs[i]) grads[i] = fresh[i].grad();
      }
    }
    return grads;
  });
}

}  // namespace qs::autograd
