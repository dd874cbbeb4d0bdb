#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine {

Tensor empty(const Shape& shape, DType dtype, Device device) { return Tensor(shape, dtype, device); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t(shape, dtype, device);
  fill_(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype(), x.device()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.dtype(), x.device()); }
Tensor full_like(const Tensor& x, double value) {
  return full(x.shape(), value, x.dtype(), x.device());
}

Tensor empty_like_layout(const Tensor& x) {
  if (x.is_contiguous()) return Tensor(x.shape(), x.dtype(), x.device());
  std::vector<int64_t> order(static_cast<std::size_t>(x.dim()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return x.strides()[a] < x.strides()[b]; });
  int64_t expected = 1;  // dims from the smallest stride up must tile memory exactly
  for (int64_t d : order) {
    if (x.size(d) == 1) continue;
    if (x.strides()[d] != expected) return Tensor(x.shape(), x.dtype(), x.device());
    expected *= x.size(d);
  }
  return Tensor(std::make_shared<Storage>(x.nbytes(), x.device()), x.shape(), x.strides(), 0, x.dtype());
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  QS_CHECK(step != 0.0, "arange: step must be non-zero");
  const double span = (end - start) / step;
  const int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
  Tensor t({n}, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = start + static_cast<double>(i) * step;
  Tensor out = dtype == DType::f64 ? t : t.to(dtype);
  return device.is_cpu() ? out : out.to(device);
}

Tensor rand(const Shape& shape, Generator& gen, DType dtype, double lo, double hi,
            Device device) {
  QS_CHECK(dtype == DType::f32 || dtype == DType::f64, "rand: dtype must be f32 or f64, got {}",
           dtype_name(dtype));
  Tensor t(shape, dtype, device);
  const uint64_t offset = gen.advance(static_cast<uint64_t>(t.numel()));
  QS_KERNEL(device, "rand", rand_uniform(t, gen.seed(), offset, lo, hi));
  return t;
}

Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor* keep) {
  QS_CHECK(x.defined() && is_floating(x.dtype()), "dropout: needs a floating tensor, got {}",
           x.defined() ? describe(x) : std::string("undefined"));
  QS_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got {}", p);
  const Tensor src = x.contiguous();
  Tensor out(x.shape(), x.dtype(), x.device());
  Tensor mask = keep ? Tensor(x.shape(), DType::u8, x.device()) : Tensor();
  QS_KERNEL(x.device(), "dropout", dropout(src, p, seed, offset, out, mask));
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
  QS_KERNEL(dev, "dropout_backward", dropout_backward(dy.contiguous(), keep.contiguous(), p, dx));
  return dx;
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, double mean, double std,
             Device device) {
  QS_CHECK(dtype == DType::f32 || dtype == DType::f64, "randn: dtype must be f32 or f64, got {}",
           dtype_name(dtype));
  Tensor t(shape, dtype, device);
  const uint64_t offset = gen.advance(static_cast<uint64_t>(t.numel()));
  QS_KERNEL(device, "randn", rand_normal(t, gen.seed(), offset, mean, std));
  return t;
}

}  // namespace qs::engine
