// Random numbers (Philox: element i depends only on (seed, offset + i), so
// every
// device draws the same numbers) and dropout with its mask.
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine {

namespace {
// The output of a draw and the first of the counter positions it takes from gen.
std::pair<Tensor, uint64_t> draw_target(Op op, const Shape& shape, Generator& gen, DType dtype, Device device) {
  QS_CHECK(dtype == DType::f32 || dtype == DType::f64, "{}: dtype must be f32 or f64, got {}", op_name(op),
           dtype_name(dtype));
  Tensor t(shape, dtype, device);
  return {t, gen.advance(static_cast<uint64_t>(t.numel()))};
}
}  // namespace

Tensor rand(const Shape& shape, Generator& gen, DType dtype, double lo, double hi, Device device) {
  auto [t, offset] = draw_target(Op::rand, shape, gen, dtype, device);
  QS_KERNEL(device, Op::rand, rand_uniform(t, gen.seed(), offset, lo, hi));
  return t;
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, double mean, double std, Device device) {
  auto [t, offset] = draw_target(Op::randn, shape, gen, dtype, device);
  QS_KERNEL(device, Op::randn, rand_normal(t, gen.seed(), offset, mean, std));
  return t;
}

Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor* keep) {
  QS_CHECK(x.defined() && is_floating(x.dtype()), "dropout: needs a floating tensor, got {}",
           x.defined() ? describe(x) : std::string("undefined"));
  QS_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got {}", p);
  const Tensor src = x.contiguous();
  Tensor out(x.shape(), x.dtype(), x.device());
  Tensor mask = keep ? Tensor(x.shape(), DType::u8, x.device()) : Tensor();
  QS_KERNEL(x.device(), Op::dropout, dropout(src, p, seed, offset, out, mask));
  if (keep) *keep = mask;
  return out;
}

Tensor dropout_backward(const Tensor& dy, const Tensor& keep, double p) {
  QS_CHECK(dy.defined() && is_floating(dy.dtype()) && keep.defined() && keep.dtype() == DType::u8 &&
               keep.shape() == dy.shape(),
           "dropout_backward: needs a floating gradient and a u8 mask of its shape, got {} and {}", describe(dy),
           describe(keep));
  QS_CHECK(p >= 0.0 && p < 1.0, "dropout_backward: p must be in [0, 1), got {}", p);
  const Device dev = op_device("dropout_backward", {&dy, &keep});
  Tensor dx(dy.shape(), dy.dtype(), dev);
  QS_KERNEL(dev, Op::dropout_backward, dropout_backward(dy.contiguous(), keep.contiguous(), p, dx));
  return dx;
}

}  // namespace qs::engine
