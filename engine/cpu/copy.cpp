#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"

namespace qs::engine::cpu {

namespace {

template <class D, class S>
D convert(S v) {
  if constexpr (std::is_same_v<D, uint8_t> && std::is_floating_point_v<S>) {
    return static_cast<D>(static_cast<int64_t>(v));
  } else {
    return static_cast<D>(v);
  }
}

template <class D, class S>
void copy_typed(const Tensor& dst, const Tensor& src) {
  D* dp = dst.data<D>();
  const S* sp = src.data<S>();
  for_each_run<2>(dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())},
                  [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
                    D* d = dp + off[0];
                    const S* s = sp + off[1];
                    if (st[0] == 1 && st[1] == 1) {
                      for (int64_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
                    } else {
                      for (int64_t i = 0; i < n; ++i) d[i * st[0]] = convert<D>(s[i * st[1]]);
                    }
                  });
}

// dst[i] = f(src[i]) over any layouts, src broadcast to dst's shape.
template <class D, class S, class F>
void convert_loop(const Tensor& dst, const Tensor& src, F f) {
  D* dp = dst.data<D>();
  const S* sp = src.data<S>();
  for_each_run<2>(dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())},
                  [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
                    for (int64_t i = 0; i < n; ++i) dp[off[0] + i * st[0]] = f(sp[off[1] + i * st[1]]);
                  });
}

// bf16/f16 only convert to and from f32 on CPU.
template <class H, class ToF, class FromF>
bool copy_half(const Tensor& dst, const Tensor& src, ToF to_half, FromF from_half) {
  const DType h = dtype_of<H>();
  if (dst.dtype() == h && src.dtype() == DType::f32) {
    convert_loop<H, float>(dst, src, to_half);
  } else if (dst.dtype() == DType::f32 && src.dtype() == h) {
    convert_loop<float, H>(dst, src, from_half);
  } else if (dst.dtype() == h && src.dtype() == h) {
    convert_loop<H, H>(dst, src, [](H v) { return v; });
  } else {
    return false;
  }
  return true;
}

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  if (copy_half<bf16>(dst, src, to_bf16, from_bf16)) return;
  if (copy_half<f16>(dst, src, to_f16, from_f16)) return;
  QS_CHECK(!(dst.dtype() == DType::bf16 || dst.dtype() == DType::f16 ||
             src.dtype() == DType::bf16 || src.dtype() == DType::f16),
           "copy: CPU converts {} only to and from f32, not {} -> {}",
           is_floating(src.dtype()) && dtype_size(src.dtype()) == 2 ? dtype_name(src.dtype())
                                                                    : dtype_name(dst.dtype()),
           dtype_name(src.dtype()), dtype_name(dst.dtype()));
  dispatch_all("copy", dst.dtype(), [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch_all("copy", src.dtype(), [&](auto stag) {
      using S = typename decltype(stag)::type;
      copy_typed<D, S>(dst, src);
    });
  });
}

void fill(const Tensor& dst, double value) {
  if (dst.dtype() == DType::bf16 || dst.dtype() == DType::f16) {
    Tensor f(Shape{}, DType::f32);
    *f.data<float>() = static_cast<float>(value);
    copy(dst, f);
    return;
  }
  dispatch_all("fill", dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = convert<T>(value);
    T* p = dst.data<T>();
    for_each_run<1>(dst.shape(), {dst.strides()},
                    [&](std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> st) {
                      for (int64_t i = 0; i < n; ++i) p[off[0] + i * st[0]] = v;
                    });
  });
}

}  // namespace qs::engine::cpu
