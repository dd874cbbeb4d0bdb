#include "engine/cuda/view.h"

#include "engine/tensor.h"

namespace qs::engine::cuda {

namespace {

// Drops size-1 dims and merges dims that are contiguous with each other, so
// index arithmetic in kernels runs over as few dims as the layout allows.
View compact(void* data, DType dtype, const Shape& shape, const Shape& strides) {
  View v;
  v.data = data;
  v.dtype = dtype;
  int64_t sizes[64], steps[64];
  int n = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    v.numel *= shape[d];
    if (shape[d] == 1) continue;
    if (n > 0 && steps[n - 1] == strides[d] * shape[d]) {
      sizes[n - 1] *= shape[d];
      steps[n - 1] = strides[d];
      continue;
    }
    sizes[n] = shape[d];
    steps[n] = strides[d];
    ++n;
  }
  QS_CHECK(n <= kMaxDims, "cuda: a layout with {} non-mergeable dims exceeds the {} CUDA kernels handle",
           n, kMaxDims);
  v.dims = n;
  for (int i = 0; i < n; ++i) {
    v.size[i] = sizes[i];
    v.stride[i] = steps[i];
  }
  v.contiguous = n == 0 || (n == 1 && steps[0] == 1);
  return v;
}

}  // namespace

View view_of(const Tensor& t) {
  if (!t.defined()) return View{};
  QS_CHECK(t.dim() <= 64, "cuda: rank {} is too high", t.dim());
  View v = compact(t.raw_data(), t.dtype(), t.shape(), t.strides());
  v.last = t.dim() ? t.size(-1) : 1;
  return v;
}

View broadcast_view(const Tensor& t, const Tensor& like) {
  const Shape& shape = like.shape();
  QS_CHECK(shape.size() <= 64 && t.dim() <= static_cast<int64_t>(shape.size()),
           "cuda: cannot broadcast {} to {}", describe(t), describe(like));
  Shape strides(shape.size(), 0);
  const std::size_t lead = shape.size() - t.shape().size();
  for (std::size_t i = 0; i < t.shape().size(); ++i) {
    if (t.shape()[i] != 1) strides[lead + i] = t.strides()[i];
  }
  // Merging would be per-operand here, but every operand of an elementwise
  // kernel must index the same logical element: keep the full shape.
  View v;
  v.data = t.raw_data();
  v.dtype = t.dtype();
  v.numel = numel_of(shape);
  int n = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    QS_CHECK(n < kMaxDims, "cuda: broadcasting to {} needs more than {} dims", describe(like), kMaxDims);
    v.size[n] = shape[d];
    v.stride[n] = strides[d];
    ++n;
  }
  v.dims = n;
  bool contiguous = true;
  int64_t expect = 1;
  for (int d = n - 1; d >= 0; --d) {
    contiguous = contiguous && v.stride[d] == expect;
    expect *= v.size[d];
  }
  v.contiguous = contiguous;
  return v;
}

Matrices matrices_of(const Tensor& t) {
  QS_CHECK(t.dim() == 3, "cuda: expected a 3-D tensor, got {}", describe(t));
  return {t.raw_data(), t.dtype(),      t.size(0),       t.size(1),
          t.size(2),    t.strides()[0], t.strides()[1], t.strides()[2]};
}

}  // namespace qs::engine::cuda
