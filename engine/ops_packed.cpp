#include "engine/dispatch.h"
#include "engine/ops.h"

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
  QS_KERNEL(dev, "matvec_4bit",
            matvec_4bit(x.contiguous(), packed.contiguous(), scale.contiguous(), zero.contiguous(),
                        group, y));
  return y;
}

Tensor dequantize_packed(const Tensor& packed, const Tensor& scale, const Tensor& zero, int bits,
                         int64_t group, int64_t in) {
  QS_CHECK(bits == 2 || bits == 3 || bits == 4 || bits == 8,
           "dequantize_packed: bits must be 2, 3, 4 or 8, got {}", bits);
  QS_CHECK(in > 0 && group > 0, "dequantize_packed: in ({}) and group ({}) must be positive", in, group);
  const int64_t row_bytes = (in * bits + 7) / 8, groups = (in + group - 1) / group;
  QS_CHECK(packed.defined() && packed.dim() == 2 && packed.dtype() == DType::u8 &&
               packed.size(1) == row_bytes,
           "dequantize_packed: codes must be u8 (out, {}) for {} codes of {} bits, got {}", row_bytes,
           in, bits, describe(packed));
  const int64_t out = packed.size(0);
  for (const Tensor* t : {&scale, &zero}) {
    QS_CHECK(t->defined() && t->dtype() == DType::f32 && t->shape() == Shape({out, groups}),
             "dequantize_packed: scale and zero must be f32 ({}, {}) for groups of {}, got {}", out,
             groups, group, describe(*t));
  }
  Device dev = op_device("dequantize_packed", {&packed, &scale, &zero});
  Tensor w({out, in}, DType::f32, dev);
  QS_KERNEL(dev, "dequantize_packed",
            dequantize_packed(packed.contiguous(), scale.contiguous(), zero.contiguous(), bits, group, w));
  return w;
}

}  // namespace qs::engine
