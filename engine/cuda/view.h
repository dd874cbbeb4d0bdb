#pragma once
// A tensor as a CUDA kernel sees it: the address of its first element, its
// dtype and layout (outermost dim first, strides in elements). Views are built
// on the host from Tensors by view.cpp, so CUDA sources never include
// tensor.h (nvcc compiles them as C++17; the engine is C++20).
#include <cstdint>

#include "engine/dtype.h"

namespace qs::engine {
class Tensor;
}

namespace qs::engine::cuda {

constexpr int kMaxDims = 8;

struct View {
  void* data = nullptr;
  DType dtype = DType::f32;
  int dims = 0;
  int64_t numel = 1;
  int64_t size[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
  bool contiguous = true;
  int64_t last = 1;  // size of the tensor's last dim (1 for rank 0), before merging
};

// A 3-D tensor (batch, rows, cols) with its strides, for batched GEMMs.
struct Matrices {
  void* data = nullptr;
  DType dtype = DType::f32;
  int64_t batch = 1, rows = 0, cols = 0;
  int64_t batch_stride = 0, row_stride = 0, col_stride = 0;
};

View view_of(const Tensor& t);  // an undefined tensor gives data == nullptr
// t read as if broadcast to `like`'s shape (stride 0 along broadcast dims).
View broadcast_view(const Tensor& t, const Tensor& like);
Matrices matrices_of(const Tensor& t);  // t must be 3-D

}  // namespace qs::engine::cuda
