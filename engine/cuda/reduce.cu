// Reductions over the middle dim of a contiguous (outer, n, inner) tensor.
// Sums accumulate in double, like the CPU kernels, so both backends agree to
// the last bit of f32 in most cases. Max/min return the first position of the
// extreme value; a NaN wins, as on the CPU.
#include <type_traits>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

template <class A>
struct Best {
  A value;
  int64_t index;
};

template <class A>
__device__ bool is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>) return v != v;
  else return false;
}

// Whether candidate c replaces the current best b.
template <class A>
__device__ bool better(bool is_max, Best<A> c, Best<A> b) {
  if (c.index < 0) return false;
  if (b.index < 0) return true;
  const bool cn = is_nan(c.value), bn = is_nan(b.value);
  if (cn || bn) return cn && (!bn || c.index < b.index);
  if (c.value == b.value) return c.index < b.index;
  return is_max ? c.value > b.value : c.value < b.value;
}

// inner == 1: one block per output row.
template <class T>
__global__ void reduce_rows_kernel(ReduceOp op, const T* x, int64_t n, T* out, int64_t* idx,
                                   int64_t correction) {
  using A = acc_t<T>;
  __shared__ double scratch[32];
  __shared__ A best_v[1024];
  __shared__ int64_t best_i[1024];
  const T* row = x + static_cast<int64_t>(blockIdx.x) * n;
  if (op == ReduceOp::max || op == ReduceOp::min) {
    const bool is_max = op == ReduceOp::max;
    Best<A> b{A(0), -1};
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      Best<A> c{load(row + j), j};
      if (better(is_max, c, b)) b = c;
    }
    best_v[threadIdx.x] = b.value;
    best_i[threadIdx.x] = b.index;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) {
        Best<A> mine{best_v[threadIdx.x], best_i[threadIdx.x]};
        Best<A> other{best_v[threadIdx.x + s], best_i[threadIdx.x + s]};
        if (better(is_max, other, mine)) {
          best_v[threadIdx.x] = other.value;
          best_i[threadIdx.x] = other.index;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      out[blockIdx.x] = cast_to<T>(best_v[0]);
      if (idx) idx[blockIdx.x] = best_i[0];
    }
    return;
  }
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += static_cast<double>(load(row + j));
  s = block_sum(s, scratch);
  double result = s;
  if (op == ReduceOp::mean) result = s / n;
  if (op == ReduceOp::var) {
    const double m = s / n;
    double q = 0.0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const double d = static_cast<double>(load(row + j)) - m;
      q += d * d;
    }
    result = block_sum(q, scratch) / static_cast<double>(n - correction);
  }
  if (threadIdx.x == 0) out[blockIdx.x] = cast_to<T>(static_cast<A>(result));
}

// inner > 1: one thread per output element, walking down the reduced dim
// (neighbouring threads read neighbouring addresses).
template <class T>
__global__ void reduce_inner_kernel(ReduceOp op, const T* x, int64_t outer, int64_t n,
                                    int64_t inner, T* out, int64_t* idx, int64_t correction) {
  using A = acc_t<T>;
  QS_GRID_STRIDE(k, outer * inner) {
    const int64_t o = k / inner, i = k % inner;
    const T* base = x + o * n * inner + i;
    if (op == ReduceOp::max || op == ReduceOp::min) {
      const bool is_max = op == ReduceOp::max;
      Best<A> b{load(base), 0};
      for (int64_t j = 1; j < n; ++j) {
        Best<A> c{load(base + j * inner), j};
        if (better(is_max, c, b)) b = c;
      }
      out[k] = cast_to<T>(b.value);
      if (idx) idx[k] = b.index;
      continue;
    }
    double s = 0.0;
    for (int64_t j = 0; j < n; ++j) s += static_cast<double>(load(base + j * inner));
    double result = s;
    if (op == ReduceOp::mean) result = s / n;
    if (op == ReduceOp::var) {
      const double m = s / n;
      double q = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(load(base + j * inner)) - m;
        q += d * d;
      }
      result = q / static_cast<double>(n - correction);
    }
    out[k] = cast_to<T>(static_cast<A>(result));
  }
}

}  // namespace

void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
            const Tensor& out, const Tensor& indices, int64_t correction) {
  View xv = view_of(x), ov = view_of(out), iv = view_of(indices);
  int64_t* idx = static_cast<int64_t*>(iv.data);
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = static_cast<const T*>(xv.data);
    T* op_ = static_cast<T*>(ov.data);
    if (inner == 1) {
      if (outer == 0) return;
      const int threads = row_threads(n);
      for (int64_t start = 0; start < outer; start += 65535 * 32) {
        const int64_t rows = outer - start < 65535 * 32 ? outer - start : 65535 * 32;
        reduce_rows_kernel<T><<<static_cast<unsigned>(rows), threads, 0, current_stream()>>>(
            op, xp + start * n, n, op_ + start, idx ? idx + start : nullptr, correction);
      }
    } else {
      reduce_inner_kernel<T><<<blocks_for(outer * inner), kThreads, 0, current_stream()>>>(
          op, xp, outer, n, inner, op_, idx, correction);
    }
  };
  if (op == ReduceOp::max || op == ReduceOp::min || op == ReduceOp::sum) {
    dispatch_all("reduce", xv.dtype, run);
  } else {
    dispatch_floating("reduce", xv.dtype, run);
  }
  check_launch("reduce_kernel");
}

}  // namespace qs::engine::cuda
