#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/packed_codes.h"

namespace qs::engine {

namespace {

// The checks shared by both ops; returns in.
int64_t check_packed(const char* op, const Tensor& packed, const Tensor& scale, const Tensor& zero,
                     int64_t group) {
  QS_CHECK(packed.defined() && packed.dim() == 2 && packed.dtype() == DType::u8,
           "{}: packed codes must be u8 (out, in / 2), got {}", op, describe(packed));
  const int64_t out = packed.size(0), in = 2 * packed.size(1);
  QS_CHECK(group > 0 && group % 2 == 0, "{}: group size must be even and positive, got {}", op, group);
  const int64_t groups = (in + group - 1) / group;
  for (const Tensor* t : {&scale, &zero}) {
    QS_CHECK(t->defined() && t->dtype() == DType::f32 && t->shape() == Shape({out, groups}),
             "{}: scale and zero must be f32 ({}, {}) for {} codes in groups of {}, got {}", op, out,
             groups, describe(packed), group, describe(*t));
  }
  return in;
}

}  // namespace

Tensor matvec_4bit(const Tensor& x, const Tensor& packed, const Tensor& scale, const Tensor& zero,
                   int64_t group) {
  const int64_t in = check_packed("matvec_4bit", packed, scale, zero, group);
  QS_CHECK(x.defined() && x.dim() == 2 && x.size(1) == in && x.dtype() == DType::f32,
           "matvec_4bit: x must be f32 (n, {}), got {}", in, describe(x));
  Device dev = op_device("matvec_4bit", {&x, &packed, &scale, &zero});
  Tensor y({x.size(0), packed.size(0)}, DType::f32, dev);
  QS_KERNEL(dev, Op::matvec_4bit,
            matvec_4bit(x.contiguous(), packed.contiguous(), scale.contiguous(), zero.contiguous(),
                        group, y));
  return y;
}

Tensor dequantize_packed(const Tensor& packed, const Tensor& scale, const Tensor& zero, int bits,
                         int64_t group, int64_t in) {
  QS_CHECK(packed.defined() && packed.dim() == 2, "dequantize_packed: codes must be u8 (out, bytes), got {}",
           describe(packed));
  QS_CHECK(in > 0, "dequantize_packed: in ({}) must be positive", in);
  Tensor w({packed.size(0), in}, DType::f32, packed.device());
  dequantize_packed_(w, 0, packed, scale, zero, bits, group);
  return w;
}

void dequantize_packed_(const Tensor& out, int64_t r0, const Tensor& packed, const Tensor& scale,
                        const Tensor& zero, int bits, int64_t group) {
  QS_CHECK(packing::valid_bits(bits), "dequantize_packed: bits must be 2, 3, 4 or 8, got {}", bits);
  QS_CHECK(out.defined() && out.dim() == 2 && out.dtype() == DType::f32 && out.is_contiguous(),
           "dequantize_packed: the output must be a contiguous f32 (rows, in), got {}", describe(out));
  const int64_t rows = out.size(0), in = out.size(1);
  QS_CHECK(in > 0 && group > 0, "dequantize_packed: in ({}) and group ({}) must be positive", in, group);
  const int64_t row_bytes = packing::row_bytes(in, bits), groups = (in + group - 1) / group;
  QS_CHECK(packed.defined() && packed.dim() == 2 && packed.dtype() == DType::u8 && packed.size(1) == row_bytes,
           "dequantize_packed: codes must be u8 (out, {}) for {} codes of {} bits, got {}", row_bytes, in, bits,
           describe(packed));
  const int64_t total = packed.size(0);
  QS_CHECK(r0 >= 0 && r0 + rows <= total, "dequantize_packed: rows [{}, {}) outside the {} rows of {}", r0, r0 + rows,
           total, describe(packed));
  for (const Tensor* t : {&scale, &zero}) {
    QS_CHECK(t->defined() && t->dtype() == DType::f32 && t->shape() == Shape({total, groups}),
             "dequantize_packed: scale and zero must be f32 ({}, {}) for groups of {}, got {}", total, groups, group,
             describe(*t));
  }
  Device dev = op_device("dequantize_packed", {&out, &packed, &scale, &zero});
  if (rows == 0) return;
  // Row slices of contiguous tensors are contiguous: the kernel sees just the rows.
  QS_KERNEL(dev, Op::dequantize_packed,
            dequantize_packed(packed.contiguous().slice(0, r0, r0 + rows), scale.contiguous().slice(0, r0, r0 + rows),
                              zero.contiguous().slice(0, r0, r0 + rows), bits, group, out));
}

namespace {

void check_fake_quant(const char* op, const Tensor& w, const Tensor& scale, const Tensor& zero, const Tensor& alpha,
                      double levels, int64_t group) {
  QS_CHECK(w.defined() && w.dim() == 2 && w.dtype() == DType::f32, "{}: weight must be f32 (out, in), got {}", op,
           describe(w));
  QS_CHECK(group > 0 && levels >= 1, "{}: group ({}) must be positive and levels ({}) at least 1", op, group, levels);
  const Shape grid{w.size(0), (w.size(1) + group - 1) / group};
  for (const Tensor* t : {&scale, &zero, &alpha}) {
    if (t == &alpha && !alpha.defined()) continue;
    QS_CHECK(t->defined() && t->dtype() == DType::f32 && t->shape() == grid,
             "{}: scale, zero and alpha must be f32 ({}, {}) for groups of {}, got {}", op, grid[0], grid[1], group,
             describe(*t));
  }
}

}  // namespace

Tensor fake_quantize_grid(const Tensor& w, const Tensor& scale, const Tensor& zero, const Tensor& alpha,
                          double levels, int64_t group) {
  check_fake_quant("fake_quantize_grid", w, scale, zero, alpha, levels, group);
  Device dev = alpha.defined() ? op_device("fake_quantize_grid", {&w, &scale, &zero, &alpha})
                               : op_device("fake_quantize_grid", {&w, &scale, &zero});
  Tensor w_hat(w.shape(), DType::f32, dev);
  QS_KERNEL(dev, Op::fake_quantize_grid,
            fake_quantize_grid(w.contiguous(), scale.contiguous(), zero.contiguous(),
                               alpha.defined() ? alpha.contiguous() : Tensor(), levels, group, w_hat));
  return w_hat;
}

FakeQuantGrads fake_quantize_grid_backward(const Tensor& dy, const Tensor& w, const Tensor& scale,
                                           const Tensor& zero, const Tensor& alpha, double levels, int64_t group,
                                           bool need_dw, bool need_dalpha) {
  check_fake_quant("fake_quantize_grid_backward", w, scale, zero, alpha, levels, group);
  QS_CHECK(dy.defined() && dy.shape() == w.shape() && dy.dtype() == DType::f32,
           "fake_quantize_grid_backward: gradient {} must match the weight {}", describe(dy), describe(w));
  QS_CHECK(!need_dalpha || alpha.defined(), "fake_quantize_grid_backward: a gradient for alpha needs alpha");
  Device dev = alpha.defined() ? op_device("fake_quantize_grid_backward", {&dy, &w, &scale, &zero, &alpha})
                               : op_device("fake_quantize_grid_backward", {&dy, &w, &scale, &zero});
  FakeQuantGrads g;
  if (need_dw) g.dw = Tensor(w.shape(), DType::f32, dev);
  if (need_dalpha) g.dalpha = Tensor(alpha.shape(), DType::f32, dev);
  if (!need_dw && !need_dalpha) return g;
  QS_KERNEL(dev, Op::fake_quantize_grid_backward,
            fake_quantize_grid_backward(dy.contiguous(), w.contiguous(), scale.contiguous(), zero.contiguous(),
                                        alpha.defined() ? alpha.contiguous() : Tensor(), levels, group, g.dw,
                                        g.dalpha));
  return g;
}

}  // namespace qs::engine
