#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qs::engine {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3]"
// Wraps a possibly negative dim into [0, ndim); error names the op otherwise.
int normalize_dim(std::string_view op, int64_t dim, int64_t ndim);
// NumPy broadcasting of two shapes; error names the op and both shapes.
Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b);

}  // namespace qs::engine
