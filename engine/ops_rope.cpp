// Rotary position embedding.
#include <cmath>

#include "engine/dispatch.h"
#include "engine/op_checks.h"
#include "engine/ops.h"

namespace qs::engine {

Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool inverse, double position_scale) {
  checks::floating("rope", x, "input");
  QS_CHECK(x.dim() >= 2 && x.size(-1) % 2 == 0,
           "rope: input must be (..., T, D) with even D, got {}", describe(x));
  QS_CHECK(positions.defined() && positions.dim() == 1 && positions.size(0) == x.size(-2),
           "rope: positions must be 1-D with T = {} entries, got {}", x.size(-2),
           describe(positions));
  QS_CHECK(positions.dtype() == DType::i64 || positions.dtype() == DType::i32,
           "rope: positions must be i32 or i64, got {}", describe(positions));
  QS_CHECK(theta > 0 && position_scale > 0 && std::isfinite(theta) && std::isfinite(position_scale),
           "rope: theta {} and position_scale {} must be positive and finite", theta, position_scale);
  Device dev = op_device("rope", {&x});
  QS_CHECK(positions.device().is_cpu() || positions.device() == dev,
           "rope: positions are on {} but the input is on {}", positions.device().str(), dev.str());
  Tensor pos = positions.to(DType::i64).contiguous().to(dev);
  // The CPU kernel rotates rows in place of any layout and keeps it (heads
  // split by a transpose stay uncopied); the CUDA kernel takes contiguous x.
  const Tensor xs = dev.is_cpu() && x.strides().back() == 1 ? x : x.contiguous();
  Tensor out = dev.is_cpu() ? empty_like_layout(xs) : Tensor(x.shape(), x.dtype(), dev);
  QS_KERNEL(dev, Op::rope, rope(xs, pos, theta, position_scale, inverse, out));
  return out;
}

}  // namespace qs::engine
