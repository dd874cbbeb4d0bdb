#pragma once
// Tensor: a cheap handle onto shared storage with shape, strides (in
// elements), offset, dtype and device. Views share storage; compute lives in
// engine/ops.h. Row-major, any rank, eager.
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/shape.h"
#include "engine/storage.h"

namespace qs::engine {

class Tensor {
 public:
  Tensor() = default;  // undefined: holds no storage
  // A new contiguous tensor with uninitialised memory.
  Tensor(const Shape& shape, DType dtype, Device device = Device::cpu());
  // A view onto existing storage.
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset,
         DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return numel_of(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }

  // Pointer to the first element (at offset); checks that T matches the dtype.
  template <class T>
  T* data() const {
    check_access(dtype_of<T>());
    return static_cast<T*>(storage_->data()) + offset_;
  }
  void* raw_data() const;  // first element, any dtype
  // The value of a one-element tensor (CPU), converted to T.
  template <class T>
  T item() const {
    return static_cast<T>(item_double());
  }
  double item_double() const;

  // ---- views (share storage) ----
  Tensor view(const Shape& shape) const;     // needs contiguity; one dim may be -1
  Tensor reshape(const Shape& shape) const;  // view when contiguous, else a copy
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(-2, -1); }
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops dim
  Tensor expand(const Shape& shape) const;          // broadcast without copying
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor flatten() const { return reshape({numel()}); }

  // ---- copies ----
  Tensor contiguous() const;  // itself if already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  std::string str() const;  // shape, dtype, device and a few values

 private:
  void check_access(DType requested) const;
  Tensor with_layout(Shape shape, Shape strides, int64_t offset) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::f32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
// "f32[2, 3]" for error messages.
std::string describe(const Tensor& t);

}  // namespace qs::engine
