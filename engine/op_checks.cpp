#include "engine/op_checks.h"

#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine::checks {

void floating(const char* op, const Tensor& x, const char* what) {
  QS_CHECK(x.defined(), "{}: {} is an undefined tensor", op, what);
  QS_CHECK(computable(x.dtype(), x.device()),
           "{}: {} must be f32 or f64 (or bf16/f16 on CUDA), got {}", op, what, describe(x));
}

void same_shape(const char* op, const Tensor& a, const Tensor& b) {
  QS_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(),
           "{}: operands must match in shape and dtype, got {} and {}", op, describe(a),
           describe(b));
}

Tensor indices(const char* op, const Tensor& idx, int64_t n, const char* what, Device dev,
               std::optional<int64_t> allowed) {
  QS_CHECK(idx.defined(), "{}: {} is an undefined tensor", op, what);
  QS_CHECK(idx.dtype() == DType::i64 || idx.dtype() == DType::i32,
           "{}: {} must be i32 or i64, got {}", op, what, describe(idx));
  QS_CHECK(idx.device().is_cpu() || idx.device() == dev, "{}: {} is on {} but the data is on {}",
           op, what, idx.device().str(), dev.str());
  Tensor i64 = idx.to(Device::cpu()).to(DType::i64).contiguous();
  const int64_t* p = i64.data<int64_t>();
  for (int64_t i = 0; i < i64.numel(); ++i) {
    if (allowed && p[i] == *allowed) continue;
    QS_CHECK(p[i] >= 0 && p[i] < n, "{}: {} holds {} at position {}, out of range [0, {})", op,
             what, p[i], i, n);
  }
  return i64.to(dev);
}

}  // namespace qs::engine::checks
