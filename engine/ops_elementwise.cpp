#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine {

namespace {

bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

void check_defined(const char* op, const Tensor& t, const char* what) {
  QS_CHECK(t.defined(), "{}: {} is an undefined tensor", op, what);
}

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
  const char* name = op_name(op);
  check_defined(name, x, "input");
  Device dev = op_device(name, {&x});
  QS_CHECK(computable(x.dtype(), dev), "{}: needs an f32 or f64 tensor (or bf16/f16 on CUDA), got {}",
           name, describe(x));
  Tensor out(x.shape(), x.dtype(), dev);
  QS_KERNEL(dev, op, unary(op, x, out));
  return out;
}

Tensor gelu(const Tensor& x, GeluApprox approx) {
  return unary(approx == GeluApprox::tanh ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf, x);
}
Tensor gelu_grad(const Tensor& x, GeluApprox approx) {
  return unary(approx == GeluApprox::tanh ? UnaryOp::gelu_tanh_grad : UnaryOp::gelu_erf_grad, x);
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  check_defined("clamp", x, "input");
  QS_CHECK(lo <= hi, "clamp: lo {} is greater than hi {}", lo, hi);
  Device dev = op_device("clamp", {&x});
  QS_CHECK(computable(x.dtype(), dev),
           "clamp: needs an f32 or f64 tensor (or bf16/f16 on CUDA), got {}", describe(x));
  Tensor out(x.shape(), x.dtype(), dev);
  QS_KERNEL(dev, Op::clamp, clamp(x, lo, hi, out));
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_defined(name, a, "first operand");
  check_defined(name, b, "second operand");
  QS_CHECK(a.dtype() == b.dtype(), "{}: dtype mismatch between {} and {}", name, describe(a),
           describe(b));
  QS_CHECK(op != BinaryOp::pow || is_floating(a.dtype()), "pow: needs a floating dtype, got {}",
           describe(a));
  Device dev = op_device(name, {&a, &b});
  QS_CHECK(dev.is_cuda() || (a.dtype() != DType::bf16 && a.dtype() != DType::f16),
           "{}: {} is a storage type on the CPU; convert to f32 first", name, describe(a));
  Shape shape = broadcast_shapes(name, a.shape(), b.shape());
  Tensor out(shape, is_comparison(op) ? DType::u8 : a.dtype(), dev);
  QS_KERNEL(dev, op, binary(op, a, b, out));
  return out;
}

void add_(const Tensor& dst, const Tensor& src) {
  check_defined("add_", dst, "destination");
  check_defined("add_", src, "source");
  QS_CHECK(dst.dtype() == src.dtype(), "add_: dtype mismatch between {} and {}", describe(dst), describe(src));
  QS_CHECK(broadcast_shapes("add_", src.shape(), dst.shape()) == dst.shape(),
           "add_: {} does not broadcast to the destination {}", describe(src), describe(dst));
  Device dev = op_device("add_", {&dst, &src});
  QS_CHECK(dev.is_cuda() || (dst.dtype() != DType::bf16 && dst.dtype() != DType::f16),
           "add_: {} is a storage type on the CPU; convert to f32 first", describe(dst));
  if (!dst.is_contiguous()) {  // the kernels write their output densely
    copy_(dst, add(dst, src));
    return;
  }
  // The elementwise kernels read each element before writing the same one,
  // so a contiguous destination may be the first operand.
  QS_KERNEL(dev, BinaryOp::add, binary(BinaryOp::add, dst, src, dst));
}

Tensor binary(BinaryOp op, const Tensor& a, double b) {
  check_defined(op_name(op), a, "first operand");
  return binary(op, a, scalar(b, a.dtype(), a.device()));
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  check_defined("swiglu", gate, "gate");
  check_defined("swiglu", up, "up");
  QS_CHECK(gate.shape() == up.shape() && gate.dtype() == up.dtype(),
           "swiglu: gate {} and up {} must match in shape and dtype", describe(gate), describe(up));
  Device dev = op_device("swiglu", {&gate, &up});
  QS_CHECK(computable(gate.dtype(), dev), "swiglu: needs f32 or f64 (or bf16/f16 on CUDA), got {}",
           describe(gate));
  Tensor y(gate.shape(), gate.dtype(), dev);
  QS_KERNEL(dev, Op::swiglu, swiglu(gate.contiguous(), up.contiguous(), y));
  return y;
}

SwigluGrads swiglu_backward(const Tensor& dy, const Tensor& gate, const Tensor& up) {
  check_defined("swiglu_backward", dy, "gradient");
  QS_CHECK(dy.shape() == gate.shape() && gate.shape() == up.shape() && dy.dtype() == gate.dtype() &&
               up.dtype() == gate.dtype(),
           "swiglu_backward: dy {}, gate {} and up {} must match", describe(dy), describe(gate),
           describe(up));
  Device dev = op_device("swiglu_backward", {&dy, &gate, &up});
  SwigluGrads g{Tensor(gate.shape(), gate.dtype(), dev), Tensor(gate.shape(), gate.dtype(), dev)};
  QS_KERNEL(dev, Op::swiglu_backward,
            swiglu_backward(dy.contiguous(), gate.contiguous(), up.contiguous(), g.dgate, g.dup));
  return g;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", cond, "condition");
  check_defined("where", a, "first operand");
  check_defined("where", b, "second operand");
  QS_CHECK(cond.dtype() == DType::u8, "where: condition must be u8 (from a comparison), got {}",
           describe(cond));
  QS_CHECK(a.dtype() == b.dtype(), "where: dtype mismatch between {} and {}", describe(a),
           describe(b));
  Device dev = op_device("where", {&cond, &a, &b});
  Shape shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()),
                                 b.shape());
  Tensor out(shape, a.dtype(), dev);
  QS_KERNEL(dev, Op::where, where(cond, a, b, out));
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_defined("masked_fill", x, "input");
  check_defined("masked_fill", mask, "mask");
  QS_CHECK(broadcast_shapes("masked_fill", mask.shape(), x.shape()) == x.shape(),
           "masked_fill: mask {} does not broadcast to input {}", describe(mask), describe(x));
  return where(mask, scalar(value, x.dtype(), x.device()), x);
}

}  // namespace qs::engine
