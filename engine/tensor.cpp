#include "engine/tensor.h"

#include <algorithm>
#include <ostream>

#include "engine/backend.h"
#include "engine/ops.h"

namespace qs::engine {

Tensor::Tensor(const Shape& shape, DType dtype, Device device)
    : storage_(std::make_shared<Storage>(
          static_cast<std::size_t>(numel_of(shape)) * dtype_size(dtype), device)),
      shape_(shape),
      strides_(contiguous_strides(shape)),
      dtype_(dtype) {
  for (int64_t s : shape) QS_CHECK(s >= 0, "Tensor: negative size in shape {}", shape_str(shape));
}

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset,
               DType dtype)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      dtype_(dtype) {}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }

int64_t Tensor::size(int64_t d) const { return shape_[normalize_dim("size", d, dim())]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = static_cast<int>(shape_.size()) - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void Tensor::check_access(DType requested) const {
  QS_CHECK(defined(), "data: tensor is undefined");
  QS_CHECK(requested == dtype_, "data: tensor is {} but {} was requested", describe(*this),
           dtype_name(requested));
}

void* Tensor::raw_data() const {
  QS_CHECK(defined(), "data: tensor is undefined");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

double Tensor::item_double() const {
  QS_CHECK(defined() && numel() == 1, "item: needs a one-element tensor, got {}", describe(*this));
  Tensor c = device().is_cpu() ? *this : to(Device::cpu());
  return element_as_double(c, 0);
}

Tensor Tensor::with_layout(Shape shape, Shape strides, int64_t offset) const {
  return Tensor(storage_, std::move(shape), std::move(strides), offset, dtype_);
}

static Shape infer_shape(std::string_view op, const Shape& requested, int64_t numel,
                         const Shape& from) {
  Shape shape = requested;
  int infer = -1;
  int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      QS_CHECK(infer < 0, "{}: more than one -1 in shape {}", op, shape_str(requested));
      infer = static_cast<int>(i);
    } else {
      QS_CHECK(shape[i] >= 0, "{}: negative size in shape {}", op, shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    QS_CHECK(known > 0 && numel % known == 0, "{}: cannot reshape {} into {}", op,
             shape_str(from), shape_str(requested));
    shape[infer] = numel / known;
  }
  QS_CHECK(numel_of(shape) == numel, "{}: cannot reshape {} ({} elements) into {}", op,
           shape_str(from), numel, shape_str(requested));
  return shape;
}

Tensor Tensor::view(const Shape& shape) const {
  QS_CHECK(is_contiguous(), "view: tensor {} is not contiguous (strides {}); use reshape()",
           describe(*this), shape_str(strides_));
  Shape s = infer_shape("view", shape, numel(), shape_);
  return with_layout(s, contiguous_strides(s), offset_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  return is_contiguous() ? view(shape) : contiguous().view(shape);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  int a = normalize_dim("transpose", d0, dim());
  int b = normalize_dim("transpose", d1, dim());
  Shape shape = shape_, strides = strides_;
  std::swap(shape[a], shape[b]);
  std::swap(strides[a], strides[b]);
  return with_layout(shape, strides, offset_);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  QS_CHECK(static_cast<int64_t>(dims.size()) == dim(),
           "permute: {} dims given for a tensor of rank {}", dims.size(), dim());
  Shape shape(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    int d = normalize_dim("permute", dims[i], dim());
    QS_CHECK(!seen[d], "permute: dim {} repeated in [{}]", d, fmt::join(dims, ", "));
    seen[d] = true;
    shape[i] = shape_[d];
    strides[i] = strides_[d];
  }
  return with_layout(shape, strides, offset_);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  int k = normalize_dim("slice", d, dim());
  QS_CHECK(step > 0, "slice: step must be positive, got {}", step);
  int64_t n = shape_[k];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = shape_, strides = strides_;
  shape[k] = (end - start + step - 1) / step;
  strides[k] = strides_[k] * step;
  return with_layout(shape, strides, offset_ + start * strides_[k]);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  int k = normalize_dim("select", d, dim());
  int64_t n = shape_[k];
  QS_CHECK(index >= -n && index < n, "select: index {} out of range for dim {} of size {}", index,
           k, n);
  if (index < 0) index += n;
  Shape shape = shape_, strides = strides_;
  shape.erase(shape.begin() + k);
  strides.erase(strides.begin() + k);
  return with_layout(shape, strides, offset_ + index * strides_[k]);
}

Tensor Tensor::expand(const Shape& shape) const {
  QS_CHECK(shape.size() >= shape_.size(), "expand: cannot expand {} to fewer dims {}",
           shape_str(shape_), shape_str(shape));
  std::size_t lead = shape.size() - shape_.size();
  Shape strides(shape.size(), 0), out = shape;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      QS_CHECK(shape[i] >= 0, "expand: size -1 not allowed in new leading dim of {}",
               shape_str(shape));
      continue;
    }
    int64_t have = shape_[i - lead];
    if (shape[i] == -1 || shape[i] == have) {
      out[i] = have;
      strides[i] = strides_[i - lead];
    } else {
      QS_CHECK(have == 1, "expand: cannot expand {} to {}", shape_str(shape_), shape_str(shape));
    }
  }
  return with_layout(out, strides, offset_);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  int k = normalize_dim("unsqueeze", d, dim() + 1);
  Shape shape = shape_, strides = strides_;
  int64_t stride = k < dim() ? strides_[k] * shape_[k] : 1;
  shape.insert(shape.begin() + k, 1);
  strides.insert(strides.begin() + k, stride);
  return with_layout(shape, strides, offset_);
}

Tensor Tensor::squeeze(int64_t d) const {
  int k = normalize_dim("squeeze", d, dim());
  QS_CHECK(shape_[k] == 1, "squeeze: dim {} has size {}, not 1", k, shape_[k]);
  Shape shape = shape_, strides = strides_;
  shape.erase(shape.begin() + k);
  strides.erase(strides.begin() + k);
  return with_layout(shape, strides, offset_);
}

Tensor Tensor::contiguous() const {
  QS_CHECK(defined(), "contiguous: tensor is undefined");
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::clone() const {
  QS_CHECK(defined(), "clone: tensor is undefined");
  Tensor out(shape_, dtype_, device());
  copy_(out, *this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out(shape_, dtype, device());
  copy_(out, *this);
  return out;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor src = contiguous();
  Tensor out(shape_, dtype_, device);
  copy_bytes(out.raw_data(), device, src.raw_data(), src.device(), src.nbytes());
  return out;
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  std::string s = fmt::format("{}{}", dtype_name(t.dtype()), shape_str(t.shape()));
  if (!t.device().is_cpu()) {
    s += '@';
    s += t.device().str();
  }
  return s;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  constexpr int64_t kShown = 8;
  std::string s = fmt::format("Tensor(shape={}, dtype={}, device={}", shape_str(shape_),
                              dtype_name(dtype_), device().str());
  Tensor c = device().is_cpu() ? *this : to(Device::cpu());
  std::vector<std::string> values;
  for (int64_t i = 0; i < std::min(numel(), kShown); ++i) {
    double v = element_as_double(c, i);
    values.push_back(is_floating(dtype_) ? fmt::format("{:.6g}", v)
                                         : fmt::format("{}", static_cast<int64_t>(v)));
  }
  s += fmt::format(", values=[{}{}])", fmt::join(values, ", "), numel() > kShown ? ", ..." : "");
  return s;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace qs::engine
