// LayerNorm and RMSNorm over the last dim, and their backward passes.
#include "engine/dispatch.h"
#include "engine/op_checks.h"
#include "engine/ops.h"

namespace qs::engine {

namespace {
void check_norm_params(const char* op, const Tensor& x, const Tensor& p, const char* what) {
  if (!p.defined()) return;
  QS_CHECK(p.dim() == 1 && p.size(0) == x.size(-1) && p.dtype() == x.dtype(),
           "{}: {} must be {}[{}] to match input {}, got {}", op, what, dtype_name(x.dtype()),
           x.size(-1), describe(x), describe(p));
}
}  // namespace

NormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               double eps) {
  checks::floating("layer_norm", x, "input");
  QS_CHECK(x.dim() >= 1 && x.size(-1) > 0, "layer_norm: needs a non-empty last dim, got {}",
           describe(x));
  check_norm_params("layer_norm", x, weight, "weight");
  check_norm_params("layer_norm", x, bias, "bias");
  Device dev = op_device("layer_norm", {&x, &weight, &bias});
  const int64_t rows = x.numel() / x.size(-1);
  NormForward f{Tensor(x.shape(), x.dtype(), dev), Tensor({rows}, x.dtype(), dev),
                Tensor({rows}, x.dtype(), dev)};
  QS_KERNEL(dev, Op::layer_norm,
            layer_norm(x.contiguous(), weight.defined() ? weight.contiguous() : weight,
                       bias.defined() ? bias.contiguous() : bias, eps, f.y, f.mean, f.rstd));
  return f;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return layer_norm_forward(x, weight, bias, eps).y;
}

NormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                              const Tensor& bias, const NormForward& fwd) {
  checks::same_shape("layer_norm_backward", dy, x);
  Device dev = op_device("layer_norm_backward", {&dy, &x, &weight});
  NormGrads g;
  g.dx = Tensor(x.shape(), x.dtype(), dev);
  if (weight.defined()) g.dweight = Tensor(weight.shape(), x.dtype(), dev);
  if (bias.defined()) g.dbias = Tensor(bias.shape(), x.dtype(), dev);
  QS_KERNEL(dev, Op::layer_norm_backward,
            layer_norm_backward(dy.contiguous(), x.contiguous(),
                                weight.defined() ? weight.contiguous() : weight, fwd.mean,
                                fwd.rstd, g.dx, g.dweight, g.dbias));
  return g;
}

NormForward rms_norm_forward(const Tensor& x, const Tensor& weight, double eps) {
  checks::floating("rms_norm", x, "input");
  QS_CHECK(x.dim() >= 1 && x.size(-1) > 0, "rms_norm: needs a non-empty last dim, got {}",
           describe(x));
  check_norm_params("rms_norm", x, weight, "weight");
  Device dev = op_device("rms_norm", {&x, &weight});
  const int64_t rows = x.numel() / x.size(-1);
  NormForward f{Tensor(x.shape(), x.dtype(), dev), Tensor(), Tensor({rows}, x.dtype(), dev)};
  QS_KERNEL(dev, Op::rms_norm,
            rms_norm(x.contiguous(), weight.defined() ? weight.contiguous() : weight, eps, f.y,
                     f.rstd));
  return f;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return rms_norm_forward(x, weight, eps).y;
}

NormGrads rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                            const NormForward& fwd) {
  checks::same_shape("rms_norm_backward", dy, x);
  Device dev = op_device("rms_norm_backward", {&dy, &x, &weight});
  NormGrads g;
  g.dx = Tensor(x.shape(), x.dtype(), dev);
  if (weight.defined()) g.dweight = Tensor(weight.shape(), x.dtype(), dev);
  QS_KERNEL(dev, Op::rms_norm_backward,
            rms_norm_backward(dy.contiguous(), x.contiguous(),
                              weight.defined() ? weight.contiguous() : weight, fwd.rstd, g.dx,
                              g.dweight));
  return g;
}

}  // namespace qs::engine
