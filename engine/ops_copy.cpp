#include <cmath>

#include "engine/dispatch.h"
#include "engine/cpu/loops.h"
#include "engine/ops.h"

namespace qs::engine {

void copy_(const Tensor& dst, const Tensor& src) {
  QS_CHECK(dst.defined() && src.defined(), "copy_: undefined tensor ({} <- {})", describe(dst),
           describe(src));
  QS_CHECK(broadcast_shapes("copy_", src.shape(), dst.shape()) == dst.shape(),
           "copy_: source {} does not broadcast to destination {}", describe(src),
           describe(dst));
  if (dst.device() != src.device()) {
    // Across devices: bring src over in its own dtype, then copy on dst's device.
    Tensor moved = src.contiguous().to(dst.device());
    copy_(dst, moved);
    return;
  }
  Device dev = op_device("copy_", {&dst, &src});
  auto half = [](DType d) { return d == DType::bf16 || d == DType::f16; };
  if (dev.is_cpu() && (half(src.dtype()) || half(dst.dtype())) && src.dtype() != dst.dtype() &&
      src.dtype() != DType::f32 && dst.dtype() != DType::f32) {
    // The CPU kernels convert half types only to and from f32: go through it.
    Tensor f32(src.shape(), DType::f32, dev);
    QS_KERNEL(dev, Op::copy_, copy(f32, src));
    QS_KERNEL(dev, Op::copy_, copy(dst, f32));
    return;
  }
  QS_KERNEL(dev, Op::copy_, copy(dst, src));
}

void fill_(const Tensor& dst, double value) {
  QS_CHECK(dst.defined(), "fill_: undefined tensor");
  Device dev = op_device("fill_", {&dst});
  QS_KERNEL(dev, Op::fill_, fill(dst, value));
}

double element_as_double(const Tensor& x, int64_t index) {
  QS_CHECK(x.defined(), "element: undefined tensor");
  QS_CHECK(x.device().is_cpu(), "element: tensor {} is not on the CPU", describe(x));
  QS_CHECK(index >= 0 && index < x.numel(), "element: index {} out of range for {}", index,
           describe(x));
  int64_t off = 0, rem = index;
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    off += (rem % x.size(d)) * x.strides()[d];
    rem /= x.size(d);
  }
  const char* base = static_cast<const char*>(x.raw_data());
  switch (x.dtype()) {
    case DType::f32: return reinterpret_cast<const float*>(base)[off];
    case DType::f64: return reinterpret_cast<const double*>(base)[off];
    case DType::i32: return reinterpret_cast<const int32_t*>(base)[off];
    case DType::i64: return static_cast<double>(reinterpret_cast<const int64_t*>(base)[off]);
    case DType::u8: return reinterpret_cast<const uint8_t*>(base)[off];
    case DType::bf16: return from_bf16(reinterpret_cast<const bf16*>(base)[off]);
    case DType::f16: return from_f16(reinterpret_cast<const f16*>(base)[off]);
  }
  return 0.0;
}

template <class T>
std::vector<T> to_vector(const Tensor& x) {
  Tensor c = x.device().is_cpu() ? x : x.to(Device::cpu());
  c = c.to(dtype_of<T>()).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> to_vector<float>(const Tensor&);
template std::vector<double> to_vector<double>(const Tensor&);
template std::vector<int32_t> to_vector<int32_t>(const Tensor&);
template std::vector<int64_t> to_vector<int64_t>(const Tensor&);
template std::vector<uint8_t> to_vector<uint8_t>(const Tensor&);

double max_abs_diff(const Tensor& a, const Tensor& b) {
  QS_CHECK(a.shape() == b.shape(), "max_abs_diff: shapes differ: {} vs {}", describe(a),
           describe(b));
  std::vector<double> va = to_vector<double>(a), vb = to_vector<double>(b);
  double m = 0.0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    double d = std::abs(va[i] - vb[i]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  std::vector<double> va = to_vector<double>(a), vb = to_vector<double>(b);
  for (std::size_t i = 0; i < va.size(); ++i) {
    if (!(std::abs(va[i] - vb[i]) <= atol + rtol * std::abs(vb[i]))) return false;
  }
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  return to_vector<double>(a) == to_vector<double>(b);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  QS_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  QS_CHECK(first.defined(), "concat: tensor 0 is undefined");
  int d = normalize_dim("concat", dim, first.dim());
  Shape shape = first.shape();
  int64_t total = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    QS_CHECK(x.defined(), "concat: tensor {} is undefined", i);
    QS_CHECK(x.dtype() == first.dtype(), "concat: tensor {} is {} but tensor 0 is {}", i,
             describe(x), describe(first));
    bool ok = x.dim() == first.dim();
    for (int64_t k = 0; ok && k < x.dim(); ++k) ok = k == d || x.size(k) == first.size(k);
    QS_CHECK(ok, "concat: tensor {} {} does not match tensor 0 {} outside dim {}", i,
             describe(x), describe(first), d);
    total += x.size(d);
  }
  shape[d] = total;
  Device dev = op_device("concat", {&first});
  Tensor out(shape, first.dtype(), dev);
  int64_t at = 0;
  for (const Tensor& x : xs) {
    op_device("concat", {&first, &x});
    copy_(out.slice(d, at, at + x.size(d)), x);
    at += x.size(d);
  }
  return out;
}

}  // namespace qs::engine
