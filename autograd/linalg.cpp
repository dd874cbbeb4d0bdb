#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var matmul(const Var& a, const Var& b) {
  Tensor ad = a.data(), bd = b.data();
  return make_result(e::matmul(ad, bd), "matmul", {a, b}, [ad, bd](const Tensor& g, const std::vector<bool>& needs) {
    // y = a b:  da = g b^T,  db = a^T g  (summed over broadcast batch dims)
    Tensor ga, gb;
    if (needs[0]) ga = e::sum_to(e::matmul(g, bd.t()), ad.shape());
    if (needs[1]) {
      if (bd.dim() == 2 && ad.dim() > 2) {
        // A shared weight: fold the batch into the rows, one GEMM.
        const int64_t k = ad.size(-1), n = g.size(-1);
        gb = e::matmul(ad.reshape({-1, k}).t(), g.reshape({-1, n}));
      } else {
        gb = e::sum_to(e::matmul(ad.t(), g), bd.shape());
      }
    }
    return std::vector<Tensor>{ga, gb};
  });
}

}  // namespace qs::autograd
