// Gathering rows (index_select, embedding) and scattering them back
// (index_add_).
#include "engine/dispatch.h"
#include "engine/op_checks.h"
#include "engine/ops.h"

namespace qs::engine {

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& idx) {
  QS_CHECK(x.defined(), "index_select: input is an undefined tensor");
  QS_CHECK(idx.defined() && idx.dim() == 1, "index_select: index must be 1-D, got {}",
           describe(idx));
  int d = normalize_dim("index_select", dim, x.dim());
  Device dev = op_device("index_select", {&x});
  Tensor i64 = checks::indices("index_select", idx, x.size(d), "index", dev);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  Shape shape = x.shape();
  shape[d] = i64.numel();
  Tensor out(shape, x.dtype(), dev);
  QS_KERNEL(dev, Op::index_select, index_select(x.contiguous(), outer, x.size(d), inner, i64, out));
  return out;
}

void index_add_(const Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) {
  checks::floating("index_add_", dst, "destination");
  QS_CHECK(dst.is_contiguous(), "index_add_: destination {} must be contiguous", describe(dst));
  QS_CHECK(idx.defined() && idx.dim() == 1, "index_add_: index must be 1-D, got {}",
           describe(idx));
  int d = normalize_dim("index_add_", dim, dst.dim());
  Shape expect = dst.shape();
  expect[d] = idx.numel();
  QS_CHECK(src.defined() && src.shape() == expect && src.dtype() == dst.dtype(),
           "index_add_: source must be {}{} for destination {} and {} indices, got {}",
           dtype_name(dst.dtype()), shape_str(expect), describe(dst), idx.numel(), describe(src));
  Device dev = op_device("index_add_", {&dst, &src});
  Tensor i64 = checks::indices("index_add_", idx, dst.size(d), "index", dev);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= dst.size(i);
  for (int64_t i = d + 1; i < dst.dim(); ++i) inner *= dst.size(i);
  QS_KERNEL(dev, Op::index_add_, index_add(dst, outer, dst.size(d), inner, i64, src.contiguous()));
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  QS_CHECK(weight.defined() && weight.dim() == 2, "embedding: weight must be (V, D), got {}",
           describe(weight));
  QS_CHECK(ids.defined(), "embedding: ids is an undefined tensor");
  Shape shape = ids.shape();
  shape.push_back(weight.size(1));
  return index_select(weight, 0, ids.reshape({ids.numel()})).view(shape);
}

}  // namespace qs::engine
