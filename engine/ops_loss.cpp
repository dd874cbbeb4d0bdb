// Cross-entropy over the last dim with an ignore index, and its gradient.
#include "engine/dispatch.h"
#include "engine/op_checks.h"
#include "engine/ops.h"

namespace qs::engine {

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  checks::floating("cross_entropy", logits, "logits");
  QS_CHECK(logits.dim() == 2 && logits.size(1) > 0,
           "cross_entropy: logits must be (N, V) with V > 0, got {}", describe(logits));
  QS_CHECK(targets.defined() && targets.dim() == 1 && targets.size(0) == logits.size(0),
           "cross_entropy: targets must be (N) with N = {}, got {}", logits.size(0),
           describe(targets));
  Device dev = op_device("cross_entropy", {&logits});
  Tensor t =
      checks::indices("cross_entropy", targets, logits.size(1), "targets", dev, ignore_index);
  Tensor loss({}, logits.dtype(), dev);
  QS_KERNEL(dev, Op::cross_entropy, cross_entropy(logits.contiguous(), t, ignore_index, loss));
  return loss;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                              double grad) {
  checks::floating("cross_entropy_backward", logits, "logits");
  QS_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0),
           "cross_entropy_backward: expected logits (N, V) and targets (N), got {} and {}",
           describe(logits), describe(targets));
  Device dev = op_device("cross_entropy_backward", {&logits});
  Tensor t = checks::indices("cross_entropy_backward", targets, logits.size(1), "targets", dev,
                             ignore_index);
  Tensor d(logits.shape(), logits.dtype(), dev);
  QS_KERNEL(dev, Op::cross_entropy_backward,
            cross_entropy_backward(logits.contiguous(), t, ignore_index, grad, d));
  return d;
}

}  // namespace qs::engine
