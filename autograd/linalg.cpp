#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

namespace {

// x y, in bf16 with f32 accumulation when `half` (autocast on a GPU).
Tensor product(const Tensor& x, const Tensor& y, bool half) {
  if (!half) return e::matmul(x, y);
  return e::matmul(x.to(e::DType::bf16), y.to(e::DType::bf16)).to(e::DType::f32);
}

}  // namespace

Var matmul(const Var& a, const Var& b) {
  Tensor ad = a.data(), bd = b.data();
  const bool half = autocast_enabled() && ad.device().is_cuda() && ad.dtype() == e::DType::f32 &&
                    bd.dtype() == e::DType::f32;
  auto mm = [half](const Tensor& x, const Tensor& y) { return product(x, y, half); };
  return make_result(mm(ad, bd), "matmul", {a, b}, [ad, bd, mm](const Tensor& g, const std::vector<bool>& needs) {
    // y = a b:  da = g b^T,  db = a^T g  (summed over broadcast batch dims)
    Tensor ga, gb;
    if (needs[0]) ga = e::sum_to(mm(g, bd.t()), ad.shape());
    if (needs[1]) {
      if (bd.dim() == 2 && ad.dim() >= 2) {
        // A shared weight: fold the batch into the rows, one GEMM. A weight
        // read transposed (x W^T, W stored (N, K)) gets its gradient computed
        // as (g^T a)^T, so the transpose's backward hands W a contiguous
        // gradient instead of one that must be copied into place.
        const int64_t k = ad.size(-1), n = g.size(-1);
        const Tensor a2 = ad.reshape({-1, k}), g2 = g.reshape({-1, n});
        const bool read_transposed = !bd.is_contiguous() && bd.t().is_contiguous();
        gb = read_transposed ? mm(g2.t(), a2).t() : mm(a2.t(), g2);
      } else {
        gb = e::sum_to(mm(ad.t(), g), bd.shape());
      }
    }
    return std::vector<Tensor>{ga, gb};
  });
}

}  // namespace qs::autograd
