#include "engine/shape.h"

#include <algorithm>

#include "engine/error.h"

namespace qs::engine {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

int normalize_dim(std::string_view op, int64_t dim, int64_t ndim) {
  int64_t d = dim < 0 ? dim + ndim : dim;
  QS_CHECK(d >= 0 && d < std::max<int64_t>(ndim, 1) && (ndim > 0 || d == 0),
           "{}: dim {} out of range for a tensor of rank {}", op, dim, ndim);
  return static_cast<int>(d);
}

Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b) {
  std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    QS_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} do not broadcast", op,
             shape_str(a), shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace qs::engine
