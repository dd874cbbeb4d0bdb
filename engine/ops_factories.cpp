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

}  // namespace qs::engine
