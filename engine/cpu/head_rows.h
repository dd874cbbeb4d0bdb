#pragma once
// Rows of a (B, H, T, d) attention operand whose last dim has unit stride,
// addressed whatever its other strides: heads split from a (B, T, H * d)
// projection by a transpose are read and written in place, not copied.
#include <cstdint>
#include <type_traits>

#include "engine/tensor.h"

namespace qs::engine::cpu {

template <class T>
struct HeadRows {
  T* base;
  int64_t heads, batch_stride, head_stride, row_stride;

  HeadRows(const Tensor& x, int64_t n_heads)
      : base(x.data<std::remove_const_t<T>>()),
        heads(n_heads),
        batch_stride(x.strides()[0]),
        head_stride(x.strides()[1]),
        row_stride(x.strides()[2]) {}

  // Row i of slice bh = b * H + h.
  T* operator()(int64_t bh, int64_t i) const {
    return base + (bh / heads) * batch_stride + (bh % heads) * head_stride + i * row_stride;
  }
};

}  // namespace qs::engine::cpu
