#include <algorithm>

#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine {

namespace {

// t: (batch..., R, C) -> (B, R, C) as a view when the batch dims merge
// (broadcast dims have stride 0 and merge with each other), else a copy.
Tensor fold_batch(const Tensor& t, int64_t nbatch) {
  const Shape& s = t.shape();
  const Shape& st = t.strides();
  int64_t b = 1;
  bool mergeable = true;
  for (int64_t i = 0; i < nbatch; ++i) {
    b *= s[i];
    if (i + 1 < nbatch && s[i + 1] != 1 && s[i] != 1 && st[i] != st[i + 1] * s[i + 1]) {
      mergeable = false;
    }
  }
  int64_t r = s[nbatch], c = s[nbatch + 1];
  if (!mergeable) return t.contiguous().view({b, r, c});
  // The step between consecutive folded batches is the innermost batch stride.
  int64_t bstride = 0;
  for (int64_t i = 0; i < nbatch; ++i) {
    if (s[i] != 1) bstride = st[i];
  }
  return Tensor(t.storage(), {b, r, c}, {bstride, st[nbatch], st[nbatch + 1]}, t.offset(),
                t.dtype());
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  QS_CHECK(a.defined() && b.defined(), "matmul: undefined operand");
  QS_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: operands must have rank >= 2, got {} and {}",
           describe(a), describe(b));
  QS_CHECK(a.dtype() == b.dtype(), "matmul: dtype mismatch between {} and {}", describe(a),
           describe(b));
  Device dev = op_device("matmul", {&a, &b});
  QS_CHECK(computable(a.dtype(), dev),
           "matmul: needs f32 or f64 operands (or bf16/f16 on CUDA), got {}", describe(a));
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  QS_CHECK(b.size(-2) == k, "matmul: inner dims differ: {} @ {} ({} vs {})", describe(a),
           describe(b), k, b.size(-2));

  // (.., M, K) @ (K, N) with a contiguous: one GEMM with all rows stacked.
  if (b.dim() == 2 && a.dim() > 2 && a.is_contiguous()) {
    Shape out_shape = a.shape();
    out_shape.back() = n;
    return matmul(a.view({-1, k}), b).view(out_shape);
  }

  Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes("matmul", batch_a, batch_b);
  Shape a_full = batch, b_full = batch, out_shape = batch;
  a_full.insert(a_full.end(), {m, k});
  b_full.insert(b_full.end(), {k, n});
  out_shape.insert(out_shape.end(), {m, n});
  const int64_t nb = static_cast<int64_t>(batch.size());
  Tensor a3 = fold_batch(a.expand(a_full), nb);
  Tensor b3 = fold_batch(b.expand(b_full), nb);
  Tensor out(out_shape, a.dtype(), dev);
  if (dev.is_cuda()) {
    // cuBLAS reads a matrix in place when one of its last two dims has unit stride.
    // (The same test as cuda/linalg.cu's as_column_major.)
    auto gemm_ready = [](const Tensor& t) {
      const int64_t rows = t.size(1), cols = t.size(2);
      const int64_t rs = rows == 1 ? cols : t.strides()[1], cs = cols == 1 ? 1 : t.strides()[2];
      return (cs == 1 && rs >= std::max<int64_t>(cols, 1)) ||
             (rs == 1 && cs >= std::max<int64_t>(rows, 1));
    };
    if (!gemm_ready(a3)) a3 = a3.contiguous();
    if (!gemm_ready(b3)) b3 = b3.contiguous();
  }
  const double flops = 2.0 * static_cast<double>(numel_of(batch)) * static_cast<double>(m) * static_cast<double>(n) *
                       static_cast<double>(k);
  QS_KERNEL_FLOPS(dev, Op::matmul, flops, matmul(a3, b3, out.view({numel_of(batch), m, n})));
  return out;
}

}  // namespace qs::engine
