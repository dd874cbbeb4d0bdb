#include <cmath>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/vec_math.h"
#include "engine/math_functors.h"

namespace qs::engine::cpu {

namespace {

// out[i] = f(x[i]) over x's layout; out is contiguous with x's shape.
template <class T, class R, class F>
void map1(const Tensor& x, const Tensor& out, F f) {
  const T* xp = x.data<T>();
  R* op = out.data<R>();
  for_each_run<2>(out.shape(), {out.strides(), x.strides()},
                  [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
                    R* o = op + off[0];
                    const T* a = xp + off[1];
                    if (st[1] == 1) {
                      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
                    } else {
                      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i * st[1]]);
                    }
                  });
}

// out[i] = f(a[i], b[i]) with broadcasting; out contiguous.
template <class T, class R, class F>
void map2(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const T* ap = a.data<T>();
  const T* bp = b.data<T>();
  R* op = out.data<R>();
  for_each_run<3>(
      out.shape(),
      {out.strides(), broadcast_strides(a, out.shape()), broadcast_strides(b, out.shape())},
      [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
        R* o = op + off[0];
        const T* x = ap + off[1];
        const T* y = bp + off[2];
        // The common layouts get loops the compiler can vectorise.
        if (st[1] == 1 && st[2] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
        } else if (st[1] == 1 && st[2] == 0) {
          const T yv = y[0];
          for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
        } else if (st[1] == 0 && st[2] == 1) {
          const T xv = x[0];
          for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i] = f(x[i * st[1]], y[i * st[2]]);
        }
      });
}

template <class T>
void unary_typed(UnaryOp op, const Tensor& x, const Tensor& out) {
  switch (op) {
    case UnaryOp::neg: return map1<T, T>(x, out, [](T v) { return -v; });
    case UnaryOp::exp: return map1<T, T>(x, out, [](T v) { return fast_exp(v); });
    case UnaryOp::log: return map1<T, T>(x, out, [](T v) { return std::log(v); });
    case UnaryOp::sqrt: return map1<T, T>(x, out, [](T v) { return std::sqrt(v); });
    case UnaryOp::rsqrt: return map1<T, T>(x, out, [](T v) { return T(1) / std::sqrt(v); });
    case UnaryOp::tanh: return map1<T, T>(x, out, [](T v) { return std::tanh(v); });
    case UnaryOp::sigmoid: return map1<T, T>(x, out, [](T v) { return fast_sigmoid(v); });
    case UnaryOp::relu: return map1<T, T>(x, out, [](T v) { return v > T(0) ? v : T(0); });
    case UnaryOp::abs: return map1<T, T>(x, out, [](T v) { return std::abs(v); });
    case UnaryOp::sign:
      return map1<T, T>(x, out, [](T v) { return T((v > T(0)) - (v < T(0))); });
    case UnaryOp::round: return map1<T, T>(x, out, [](T v) { return std::nearbyint(v); });
    case UnaryOp::gelu_tanh: return map1<T, T>(x, out, [](T v) { return fn::gelu_tanh(v); });
    case UnaryOp::gelu_erf: return map1<T, T>(x, out, [](T v) { return fast_gelu_erf(v); });
    case UnaryOp::silu: return map1<T, T>(x, out, [](T v) { return v * fast_sigmoid(v); });
    case UnaryOp::gelu_tanh_grad:
      return map1<T, T>(x, out, [](T v) { return fn::gelu_tanh_grad(v); });
    case UnaryOp::gelu_erf_grad:
      return map1<T, T>(x, out, [](T v) { return fast_gelu_erf_grad(v); });
    case UnaryOp::silu_grad: return map1<T, T>(x, out, [](T v) { return fn::silu_grad(v); });
    case UnaryOp::quick_gelu: return map1<T, T>(x, out, [](T v) { return v * fast_sigmoid(T(1.702) * v); });
    case UnaryOp::quick_gelu_grad: return map1<T, T>(x, out, [](T v) { return fn::quick_gelu_grad(v); });
  }
}

template <class T>
void arithmetic_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (op) {
    case BinaryOp::add: return map2<T, T>(a, b, out, [](T x, T y) { return T(x + y); });
    case BinaryOp::sub: return map2<T, T>(a, b, out, [](T x, T y) { return T(x - y); });
    case BinaryOp::mul: return map2<T, T>(a, b, out, [](T x, T y) { return T(x * y); });
    case BinaryOp::div:
      if constexpr (std::is_integral_v<T>) {
        // Integer division by zero is undefined behaviour in C++: report it.
        bool zero = false;
        map2<T, T>(a, b, out, [&zero](T x, T y) {
          if (y == 0) {
            zero = true;
            return T(0);
          }
          return T(x / y);
        });
        QS_CHECK(!zero, "div: integer division by zero");
        return;
      } else {
        return map2<T, T>(a, b, out, [](T x, T y) { return x / y; });
      }
    case BinaryOp::pow:
      if constexpr (std::is_floating_point_v<T>) {
        return map2<T, T>(a, b, out, [](T x, T y) {
          if (y == T(2)) return x * x;  // the common case, exact and fast
          return T(std::pow(x, y));
        });
      } else {
        fail("pow: needs a floating dtype, got {}", dtype_name(a.dtype()));
      }
    case BinaryOp::maximum:
      return map2<T, T>(a, b, out, [](T x, T y) { return x > y || x != x ? x : y; });
    case BinaryOp::minimum:
      return map2<T, T>(a, b, out, [](T x, T y) { return x < y || x != x ? x : y; });
    default: break;
  }
  using U = uint8_t;
  switch (op) {
    case BinaryOp::eq: return map2<T, U>(a, b, out, [](T x, T y) { return U(x == y); });
    case BinaryOp::ne: return map2<T, U>(a, b, out, [](T x, T y) { return U(x != y); });
    case BinaryOp::lt: return map2<T, U>(a, b, out, [](T x, T y) { return U(x < y); });
    case BinaryOp::le: return map2<T, U>(a, b, out, [](T x, T y) { return U(x <= y); });
    case BinaryOp::gt: return map2<T, U>(a, b, out, [](T x, T y) { return U(x > y); });
    case BinaryOp::ge: return map2<T, U>(a, b, out, [](T x, T y) { return U(x >= y); });
    default: break;
  }
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  dispatch_floating("unary", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    unary_typed<T>(op, x, out);
  });
}

void clamp(const Tensor& x, double lo, double hi, const Tensor& out) {
  dispatch_floating("clamp", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T l = static_cast<T>(lo), h = static_cast<T>(hi);
    map1<T, T>(x, out, [l, h](T v) { return v < l ? l : (v > h ? h : v); });
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_all("binary", a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    arithmetic_typed<T>(op, a, b, out);
  });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_all("where", a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const uint8_t* cp = cond.data<uint8_t>();
    const T* ap = a.data<T>();
    const T* bp = b.data<T>();
    T* op = out.data<T>();
    const Shape& s = out.shape();
    for_each_run<4>(s,
                    {out.strides(), broadcast_strides(cond, s), broadcast_strides(a, s),
                     broadcast_strides(b, s)},
                    [&](std::array<int64_t, 4> off, int64_t n, std::array<int64_t, 4> st) {
                      for (int64_t i = 0; i < n; ++i) {
                        op[off[0] + i * st[0]] = cp[off[1] + i * st[1]]
                                                     ? ap[off[2] + i * st[2]]
                                                     : bp[off[3] + i * st[3]];
                      }
                    });
  });
}

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& y) {
  dispatch_floating("swiglu", gate.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* g = gate.data<T>();
    const T* u = up.data<T>();
    T* o = y.data<T>();
    const int64_t n = gate.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) o[i] = g[i] * fast_sigmoid(g[i]) * u[i];
  });
}

void swiglu_backward(const Tensor& dy, const Tensor& gate, const Tensor& up, const Tensor& dgate,
                     const Tensor& dup) {
  dispatch_floating("swiglu_backward", gate.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* d = dy.data<T>();
    const T* g = gate.data<T>();
    const T* u = up.data<T>();
    T* dg = dgate.data<T>();
    T* du = dup.data<T>();
    const int64_t n = gate.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      // silu(g) = g s, silu'(g) = s (1 + g (1 - s)), s = sigmoid(g)
      const T s = fast_sigmoid(g[i]);
      dg[i] = d[i] * u[i] * s * (T(1) + g[i] * (T(1) - s));
      du[i] = d[i] * g[i] * s;
    }
  });
}

}  // namespace qs::engine::cpu
