#include <algorithm>

#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine {

namespace {

struct Reduced {
  Tensor values, indices;
};

Reduced reduce_dim(cpu::ReduceOp op, const Tensor& x, int64_t dim, bool keepdim,
                   int64_t correction = 0) {
  const char* name = op_name(op);
  QS_CHECK(x.defined(), "{}: input is an undefined tensor", name);
  Device dev = op_device(name, {&x});
  const bool indexed = op == cpu::ReduceOp::max || op == cpu::ReduceOp::min;
  if (!indexed && op != cpu::ReduceOp::sum) {
    QS_CHECK(computable(x.dtype(), dev),
             "{}: needs an f32 or f64 tensor (or bf16/f16 on CUDA), got {}", name, describe(x));
  }
  // A rank-0 tensor reduces over its single element.
  Tensor src = x.dim() == 0 ? x.reshape({1}) : x;
  int d = normalize_dim(name, dim, src.dim());
  const int64_t n = src.size(d);
  QS_CHECK(n > 0 || !indexed, "{}: cannot reduce over empty dim {} of {}", name, d, describe(x));
  QS_CHECK(op != cpu::ReduceOp::var || n - correction > 0,
           "var: {} elements along dim {} leave no degrees of freedom with correction {}", n, d,
           correction);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= src.size(i);
  for (int i = d + 1; i < src.dim(); ++i) inner *= src.size(i);
  Shape kept = src.shape();
  kept[d] = 1;
  Shape out_shape = kept;
  if (!keepdim) out_shape.erase(out_shape.begin() + d);
  if (x.dim() == 0 && !keepdim) out_shape = {};
  Reduced r;
  r.values = Tensor(out_shape, x.dtype(), dev);
  if (indexed) r.indices = Tensor(out_shape, DType::i64, dev);
  if (n == 0) {
    fill_(r.values, 0.0);
    return r;
  }
  QS_KERNEL(dev, op, reduce(op, src.contiguous(), outer, n, inner, r.values, r.indices, correction));
  return r;
}

Tensor reduce_all(cpu::ReduceOp op, const Tensor& x, int64_t correction = 0) {
  QS_CHECK(x.defined(), "{}: input is an undefined tensor", op_name(op));
  return reduce_dim(op, x.reshape({x.numel()}), 0, false, correction).values;
}

}  // namespace

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  return reduce_dim(cpu::ReduceOp::sum, x, dim, keepdim).values;
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  QS_CHECK(x.defined(), "sum: input is an undefined tensor");
  std::vector<int> ds;
  for (int64_t d : dims) ds.push_back(normalize_dim("sum", d, x.dim()));
  std::sort(ds.begin(), ds.end());
  QS_CHECK(std::adjacent_find(ds.begin(), ds.end()) == ds.end(), "sum: dim repeated in [{}]",
           fmt::join(dims, ", "));
  Tensor out = x;
  // Highest dim first so the lower dim numbers stay valid without keepdim.
  for (auto it = ds.rbegin(); it != ds.rend(); ++it) out = sum(out, *it, keepdim);
  return out;
}

Tensor sum(const Tensor& x) { return reduce_all(cpu::ReduceOp::sum, x); }

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  return reduce_dim(cpu::ReduceOp::mean, x, dim, keepdim).values;
}
Tensor mean(const Tensor& x) { return reduce_all(cpu::ReduceOp::mean, x); }

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  Reduced r = reduce_dim(cpu::ReduceOp::max, x, dim, keepdim);
  return {r.values, r.indices};
}
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) {
  Reduced r = reduce_dim(cpu::ReduceOp::min, x, dim, keepdim);
  return {r.values, r.indices};
}
Tensor max(const Tensor& x) { return reduce_all(cpu::ReduceOp::max, x); }
Tensor min(const Tensor& x) { return reduce_all(cpu::ReduceOp::min, x); }
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return max(x, dim, keepdim).indices; }

Tensor var(const Tensor& x, int64_t dim, int64_t correction, bool keepdim) {
  return reduce_dim(cpu::ReduceOp::var, x, dim, keepdim, correction).values;
}
Tensor var(const Tensor& x) {
  return reduce_all(cpu::ReduceOp::var, x, 1);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  QS_CHECK(broadcast_shapes("sum_to", shape, x.shape()) == x.shape(),
           "sum_to: {} does not broadcast to {}", shape_str(shape), describe(x));
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && x.size(i) != 1)) dims.push_back(i);
  }
  return sum(x, dims, true).reshape(shape);
}

}  // namespace qs::engine
