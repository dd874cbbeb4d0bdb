#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var cross_entropy(const Var& logits, const Tensor& targets, int64_t ignore_index) {
  Tensor ld = logits.data();
  return make_result(e::cross_entropy(ld, targets, ignore_index), "cross_entropy", {logits},
                     [ld, targets, ignore_index](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{
                           e::cross_entropy_backward(ld, targets, ignore_index, g.item<double>())};
                     });
}

}  // namespace qs::autograd
