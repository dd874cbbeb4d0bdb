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

template <class T> constexpr bool is_half_v = std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>;

template <class D, class S>
__device__ D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (is_half_v<S>) {
    return convert<D>(load(&v));
  } else if constexpr (is_half_v<D>) {
    return cast_to<D>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<D, uint8_t> && std::is_floating_point_v<S>) {
    return static_cast<D>(static_cast<int64_t>(v));
  } else {
    return static_cast<D>(v);
  }
}

template <class D, class S>
__global__ void copy_kernel(View dst, View src, int64_t n) {
  D* dp = static_cast<D*>(dst.data);
  const S* sp = static_cast<const S*>(src.data);
  QS_GRID_STRIDE(i, n) { dp[offset_of(dst, i)] = convert<D>(sp[offset_of(src, i)]); }
}

template <class T>
__global__ void fill_kernel(View dst, double value, int64_t n) {
  T* dp = static_cast<T*>(dst.data);
  const T v = convert<T>(value);
  QS_GRID_STRIDE(i, n) { dp[offset_of(dst, i)] = v; }
}

// Philox4x32-10, the same as engine/rng.cpp, so CUDA draws the CPU's numbers.
__device__ uint4 philox(uint64_t seed, uint64_t index) {
  uint32_t c0 = static_cast<uint32_t>(index), c1 = static_cast<uint32_t>(index >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return make_uint4(c0, c1, c2, c3);
}

template <class T>
__global__ void uniform_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  QS_GRID_STRIDE(i, n) {
    const uint4 r = philox(seed, offset + i);
    double u;
    if constexpr (std::is_same_v<T, float>) {
      u = static_cast<double>(static_cast<float>(r.x >> 8) * 0x1.0p-24f);
    } else {
      const uint64_t bits = (static_cast<uint64_t>(r.x) << 21) ^ (r.y >> 11);
      u = static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * 0x1.0p-53;
    }
    out[i] = static_cast<T>(lo + (hi - lo) * u);
  }
}

// As engine/cpu/copy.cpp: f64 numbers for f64, f32 numbers otherwise; the
// threshold and the scale in the element type's compute type.
template <class T>
__global__ void dropout_kernel(const T* x, T* out, uint8_t* keep_out, int64_t n, double p, uint64_t seed,
                               uint64_t offset) {
  using A = acc_t<T>;
  const A scale = A(1.0 / (1.0 - p));
  QS_GRID_STRIDE(i, n) {
    const uint4 r = philox(seed, offset + i);
    bool keep;
    if constexpr (std::is_same_v<T, double>) {
      const uint64_t bits = (static_cast<uint64_t>(r.x) << 21) ^ (r.y >> 11);
      keep = static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * 0x1.0p-53 >= p;
    } else {
      keep = static_cast<float>(r.x >> 8) * 0x1.0p-24f >= static_cast<float>(p);
    }
    out[i] = keep ? cast_to<T>(load(x + i) * scale) : cast_to<T>(A(0));
    if (keep_out) keep_out[i] = keep;
  }
}

template <class T>
__global__ void dropout_backward_kernel(const T* dy, const uint8_t* keep, T* dx, int64_t n, double p) {
  using A = acc_t<T>;
  const A scale = A(1.0 / (1.0 - p));
  QS_GRID_STRIDE(i, n) { dx[i] = keep[i] ? cast_to<T>(load(dy + i) * scale) : cast_to<T>(A(0)); }
}

template <class T>
__global__ void normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  QS_GRID_STRIDE(i, n) {
    const uint4 r = philox(seed, offset + i);
    const double u1 = (static_cast<double>(r.x) + 1.0) * 0x1.0p-32;
    const double u2 = static_cast<double>(r.y) * 0x1.0p-32;
    const double z = sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
    out[i] = static_cast<T>(mean + std * z);
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

void copy(const Tensor& dst, const Tensor& src) {
  View d = broadcast_view(dst, dst), s = broadcast_view(src, dst);
  if (d.numel == 0) return;
  dispatch_all("copy", d.dtype, [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch_all("copy", s.dtype, [&](auto stag) {
      using S = typename decltype(stag)::type;
      copy_kernel<D, S><<<blocks_for(d.numel), kThreads, 0, current_stream()>>>(d, s, d.numel);
    });
  });
  check_launch("copy_kernel");
}

void fill(const Tensor& dst, double value) {
  View d = broadcast_view(dst, dst);
  if (d.numel == 0) return;
  dispatch_all("fill", d.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_kernel<T><<<blocks_for(d.numel), kThreads, 0, current_stream()>>>(d, value, d.numel);
  });
  check_launch("fill_kernel");
}

void rand_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  View o = view_of(out);
  dispatch_floating("rand", o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      uniform_kernel<T><<<blocks_for(o.numel), kThreads, 0, current_stream()>>>(
          static_cast<T*>(o.data), o.numel, seed, offset, lo, hi);
    }
  }, false);
  check_launch("uniform_kernel");
}

void dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, const Tensor& out, const Tensor& keep) {
  View o = view_of(out);
  if (o.numel == 0) return;
  uint8_t* kp = static_cast<uint8_t*>(view_of(keep).data);  // nullptr when keep is undefined
  dispatch_floating("dropout", o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dropout_kernel<T><<<blocks_for(o.numel), kThreads, 0, current_stream()>>>(
        static_cast<const T*>(view_of(x).data), static_cast<T*>(o.data), kp, o.numel, p, seed, offset);
  });
  check_launch("dropout_kernel");
}

void dropout_backward(const Tensor& dy, const Tensor& keep, double p, const Tensor& dx) {
  View o = view_of(dx);
  if (o.numel == 0) return;
  dispatch_floating("dropout_backward", o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dropout_backward_kernel<T><<<blocks_for(o.numel), kThreads, 0, current_stream()>>>(
        static_cast<const T*>(view_of(dy).data), static_cast<const uint8_t*>(view_of(keep).data),
        static_cast<T*>(o.data), o.numel, p);
  });
  check_launch("dropout_backward_kernel");
}

void rand_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  View o = view_of(out);
  dispatch_floating("randn", o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      normal_kernel<T><<<blocks_for(o.numel), kThreads, 0, current_stream()>>>(
          static_cast<T*>(o.data), o.numel, seed, offset, mean, std);
    }
  }, false);
  check_launch("normal_kernel");
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
