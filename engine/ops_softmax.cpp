// Softmax and log-softmax over the last dim, and their backward passes.
#include "engine/dispatch.h"
#include "engine/op_checks.h"
#include "engine/ops.h"

namespace qs::engine {

Tensor softmax(const Tensor& x) {
  checks::floating("softmax", x, "input");
  QS_CHECK(x.dim() >= 1, "softmax: needs rank >= 1, got {}", describe(x));
  Device dev = op_device("softmax", {&x});
  Tensor out(x.shape(), x.dtype(), dev);
  QS_KERNEL(dev, Op::softmax, softmax(x.contiguous(), out, false));
  return out;
}

Tensor log_softmax(const Tensor& x) {
  checks::floating("log_softmax", x, "input");
  QS_CHECK(x.dim() >= 1, "log_softmax: needs rank >= 1, got {}", describe(x));
  Device dev = op_device("log_softmax", {&x});
  Tensor out(x.shape(), x.dtype(), dev);
  QS_KERNEL(dev, Op::log_softmax, softmax(x.contiguous(), out, true));
  return out;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy) {
  checks::floating("softmax_backward", y, "output");
  checks::same_shape("softmax_backward", y, dy);
  Device dev = op_device("softmax_backward", {&y, &dy});
  Tensor dx(y.shape(), y.dtype(), dev);
  QS_KERNEL(dev, Op::softmax_backward, softmax_backward(y.contiguous(), dy.contiguous(), dx, false));
  return dx;
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& dy) {
  checks::floating("log_softmax_backward", y, "output");
  checks::same_shape("log_softmax_backward", y, dy);
  Device dev = op_device("log_softmax_backward", {&y, &dy});
  Tensor dx(y.shape(), y.dtype(), dev);
  QS_KERNEL(dev, Op::log_softmax_backward, softmax_backward(y.contiguous(), dy.contiguous(), dx, true));
  return dx;
}

}  // namespace qs::engine
