// Elementwise CUDA kernels: one kernel per dtype with the op chosen by a
// (warp-uniform) switch, which keeps compile time and binary size small.
// Inputs are read through broadcast Views; outputs are contiguous.
#include <memory>
#include <type_traits>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"
#include "engine/math_functors.h"

namespace qs::engine::cuda {

namespace {

template <class A>
__device__ A unary_value(UnaryOp op, A v) {
  switch (op) {
    case UnaryOp::neg: return -v;
    case UnaryOp::exp: return exp(v);
    case UnaryOp::log: return log(v);
    case UnaryOp::sqrt: return sqrt(v);
    case UnaryOp::rsqrt: return A(1) / sqrt(v);
    case UnaryOp::tanh: return tanh(v);
    case UnaryOp::sigmoid: return fn::sigmoid(v);
    case UnaryOp::relu: return v > A(0) ? v : A(0);
    case UnaryOp::abs: return fabs(v);
    case UnaryOp::sign: return A((v > A(0)) - (v < A(0)));
    case UnaryOp::round: return rint(v);  // half to even, as nearbyint on the CPU
    case UnaryOp::gelu_tanh: return fn::gelu_tanh(v);
    case UnaryOp::gelu_erf: return fn::gelu_erf(v);
    case UnaryOp::silu: return fn::silu(v);
    case UnaryOp::gelu_tanh_grad: return fn::gelu_tanh_grad(v);
    case UnaryOp::gelu_erf_grad: return fn::gelu_erf_grad(v);
    case UnaryOp::silu_grad: return fn::silu_grad(v);
    case UnaryOp::quick_gelu: return fn::quick_gelu(v);
    case UnaryOp::quick_gelu_grad: return fn::quick_gelu_grad(v);
  }
  return v;
}

template <class T>
__global__ void unary_kernel(UnaryOp op, View x, T* out, int64_t n) {
  const T* xp = static_cast<const T*>(x.data);
  QS_GRID_STRIDE(i, n) { out[i] = cast_to<T>(unary_value(op, load(xp + offset_of(x, i)))); }
}

template <class T>
__global__ void clamp_kernel(View x, double lo, double hi, T* out, int64_t n) {
  using A = acc_t<T>;
  const T* xp = static_cast<const T*>(x.data);
  const A l = A(lo), h = A(hi);
  QS_GRID_STRIDE(i, n) {
    A v = load(xp + offset_of(x, i));
    out[i] = cast_to<T>(v < l ? l : (v > h ? h : v));  // NaN passes through
  }
}

template <class A>
__device__ A arithmetic(BinaryOp op, A x, A y) {
  switch (op) {
    case BinaryOp::add: return A(x + y);
    case BinaryOp::sub: return A(x - y);
    case BinaryOp::mul: return A(x * y);
    case BinaryOp::div:
      if constexpr (std::is_integral_v<A>) return y == 0 ? A(0) : A(x / y);
      else return x / y;
    case BinaryOp::pow:
      if constexpr (std::is_floating_point_v<A>) return y == A(2) ? x * x : A(pow(x, y));
      else return A(0);
    case BinaryOp::maximum: return x > y || x != x ? x : y;
    case BinaryOp::minimum: return x < y || x != x ? x : y;
    default: return A(0);
  }
}

template <class A>
__device__ uint8_t compare(BinaryOp op, A x, A y) {
  switch (op) {
    case BinaryOp::eq: return x == y;
    case BinaryOp::ne: return x != y;
    case BinaryOp::lt: return x < y;
    case BinaryOp::le: return x <= y;
    case BinaryOp::gt: return x > y;
    case BinaryOp::ge: return x >= y;
    default: return 0;
  }
}

template <class T>
__global__ void binary_kernel(BinaryOp op, View a, View b, void* out, int64_t n, int* div_zero) {
  const T* ap = static_cast<const T*>(a.data);
  const T* bp = static_cast<const T*>(b.data);
  const bool cmp = op >= BinaryOp::eq;
  QS_GRID_STRIDE(i, n) {
    auto x = load(ap + offset_of(a, i));
    auto y = load(bp + offset_of(b, i));
    if (cmp) {
      static_cast<uint8_t*>(out)[i] = compare(op, x, y);
    } else {
      if constexpr (std::is_integral_v<T>) {
        if (op == BinaryOp::div && y == 0) *div_zero = 1;
      }
      static_cast<T*>(out)[i] = cast_to<T>(arithmetic(op, x, y));
    }
  }
}

template <class T>
__global__ void where_kernel(View c, View a, View b, T* out, int64_t n) {
  const uint8_t* cp = static_cast<const uint8_t*>(c.data);
  const T* ap = static_cast<const T*>(a.data);
  const T* bp = static_cast<const T*>(b.data);
  QS_GRID_STRIDE(i, n) {
    out[i] = cp[offset_of(c, i)] ? ap[offset_of(a, i)] : bp[offset_of(b, i)];
  }
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  dispatch_floating("unary", view_of(out).dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    View o = view_of(out);
    unary_kernel<T><<<blocks_for(o.numel), kThreads, 0, current_stream()>>>(
        op, broadcast_view(x, out), static_cast<T*>(o.data), o.numel);
  });
  check_launch("unary_kernel");
}

void clamp(const Tensor& x, double lo, double hi, const Tensor& out) {
  View o = view_of(out);
  dispatch_floating("clamp", o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    clamp_kernel<T><<<blocks_for(o.numel), kThreads, 0, current_stream()>>>(
        broadcast_view(x, out), lo, hi, static_cast<T*>(o.data), o.numel);
  });
  check_launch("clamp_kernel");
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  View av = broadcast_view(a, out), bv = broadcast_view(b, out), o = view_of(out);
  const bool integral = av.dtype == DType::i32 || av.dtype == DType::i64 || av.dtype == DType::u8;
  // Integer division by zero is reported, as on the CPU (it costs a sync).
  std::unique_ptr<Scratch> scratch;
  int* flag = nullptr;
  if (integral && op == BinaryOp::div) {
    scratch = std::make_unique<Scratch>(sizeof(int));
    flag = scratch->as<int>();
    check(cudaMemsetAsync(flag, 0, sizeof(int), current_stream()), "cudaMemsetAsync");
  }
  dispatch_all("binary", av.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    binary_kernel<T><<<blocks_for(o.numel), kThreads, 0, current_stream()>>>(op, av, bv, o.data,
                                                                             o.numel, flag);
  });
  check_launch("binary_kernel");
  if (flag) {
    int host = 0;
    copy(&host, -1, flag, scratch->device(), sizeof(int));
    QS_CHECK(!host, "div: integer division by zero");
  }
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  View o = view_of(out);
  View cv = broadcast_view(cond, out), av = broadcast_view(a, out), bv = broadcast_view(b, out);
  dispatch_all("where", o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    where_kernel<T><<<blocks_for(o.numel), kThreads, 0, current_stream()>>>(
        cv, av, bv, static_cast<T*>(o.data), o.numel);
  });
  check_launch("where_kernel");
}

namespace {

template <class T>
__global__ void swiglu_kernel(const T* g, const T* u, T* y, int64_t n) {
  QS_GRID_STRIDE(i, n) { y[i] = cast_to<T>(fn::silu(load(g + i)) * load(u + i)); }
}

template <class T>
__global__ void swiglu_backward_kernel(const T* d, const T* g, const T* u, T* dg, T* du, int64_t n) {
  QS_GRID_STRIDE(i, n) {
    const auto di = load(d + i), gi = load(g + i), ui = load(u + i);
    dg[i] = cast_to<T>(di * ui * fn::silu_grad(gi));
    du[i] = cast_to<T>(di * fn::silu(gi));
  }
}

}  // namespace

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& y) {
  View gv = view_of(gate), uv = view_of(up), yv = view_of(y);
  if (gv.numel == 0) return;
  dispatch_floating("swiglu", gv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiglu_kernel<T><<<blocks_for(gv.numel), kThreads, 0, current_stream()>>>(
        static_cast<const T*>(gv.data), static_cast<const T*>(uv.data), static_cast<T*>(yv.data), gv.numel);
  });
  check_launch("swiglu_kernel");
}

void swiglu_backward(const Tensor& dy, const Tensor& gate, const Tensor& up, const Tensor& dgate,
                     const Tensor& dup) {
  View dv = view_of(dy), gv = view_of(gate), uv = view_of(up), dgv = view_of(dgate), duv = view_of(dup);
  if (gv.numel == 0) return;
  dispatch_floating("swiglu_backward", gv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiglu_backward_kernel<T><<<blocks_for(gv.numel), kThreads, 0, current_stream()>>>(
        static_cast<const T*>(dv.data), static_cast<const T*>(gv.data), static_cast<const T*>(uv.data),
        static_cast<T*>(dgv.data), static_cast<T*>(duv.data), gv.numel);
  });
  check_launch("swiglu_backward_kernel");
}

}  // namespace qs::engine::cuda
