#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

namespace {

// x y, in bf16 with f32 accumulation when `half` (autocast on a GPU).
Tensor product(const Tensor& x, const Tensor& y, bool half) {
  if (!half) return e::matmul(x, y);
  return e::matmul(x.to(e::DType::bf16), y.to(e::DType::bf16)).to(e::DType::f32);
}

// The gradient of a matrix b in y = a b, a's batch dims folded into its rows.
Tensor matrix_grad(const Tensor& a, const Tensor& b, const Tensor& g, bool half) {
  // A weight read transposed (x W^T, W stored (N, K)) gets its gradient
  // computed as (g^T a)^T, so the transpose's backward hands W a contiguous
  // gradient instead of one that must be copied into place.
  const int64_t k = a.size(-1), n = g.size(-1);
  const Tensor a2 = a.reshape({-1, k}), g2 = g.reshape({-1, n});
  const bool read_transposed = !b.is_contiguous() && b.t().is_contiguous();
  return read_transposed ? product(g2.t(), a2, half).t() : product(a2.t(), g2, half);
}

bool autocast_half(const Tensor& a, const Tensor& b) {
  return autocast_enabled() && a.device().is_cuda() && a.dtype() == e::DType::f32 && b.dtype() == e::DType::f32;
}

}  // namespace

Var matmul(const Var& a, const Var& b) {
  Tensor ad = a.data(), bd = b.data();
  const bool half = autocast_half(ad, bd);
  auto mm = [half](const Tensor& x, const Tensor& y) { return product(x, y, half); };
  return make_result(mm(ad, bd), "matmul", {a, b}, [ad, bd, mm, half](const Tensor& g, const std::vector<bool>& needs) {
    // y = a b:  da = g b^T,  db = a^T g  (summed over broadcast batch dims)
    Tensor ga, gb;
    if (needs[0]) ga = e::sum_to(mm(g, bd.t()), ad.shape());
    if (needs[1]) {
      if (bd.dim() == 2 && ad.dim() >= 2) {
        gb = matrix_grad(ad, bd, g, half);  // a shared weight: the batch folded into the rows, one GEMM
      } else {
        gb = e::sum_to(mm(ad.t(), g), bd.shape());
      }
    }
    return std::vector<Tensor>{ga, gb};
  });
}

Var dropout_matmul(const Var& x, const Var& b, double p, e::Generator& gen) {
  QS_CHECK(b.dim() == 2 && x.dim() >= 2, "dropout_matmul: needs x with 2 or more dims and a matrix b, got {} and {}",
           e::describe(x.data()), e::describe(b.data()));
  const Tensor xd = x.data(), bd = b.data();
  const uint64_t seed = gen.seed(), offset = gen.advance(static_cast<uint64_t>(xd.numel()));
  const bool half = autocast_half(xd, bd);
  Tensor keep;
  const Tensor y = product(e::dropout(xd, p, seed, offset, &keep), bd, half);
  return make_result(y, "dropout_matmul", {x, b}, [xd, bd, p, keep, half](const Tensor& g, const std::vector<bool>& needs) {
    Tensor gx, gb;
    if (needs[0]) gx = e::dropout_backward(product(g, bd.t(), half), keep, p);
    // x keep / (1 - p) is the forward's dropped copy, bit for bit: the same
    // product the dropout kernel wrote, without drawing the mask again.
    if (needs[1]) gb = matrix_grad(e::dropout_backward(xd, keep, p), bd, g, half);
    return std::vector<Tensor>{gx, gb};
  });
}

}  // namespace qs::autograd
