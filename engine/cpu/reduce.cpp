#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"

namespace qs::engine::cpu {

namespace {

// Sums go through fixed-size blocks accumulated in double, so the result does
// not depend on the thread count.
constexpr int64_t kBlock = 4096;

template <class T>
double sum_contiguous(const T* x, int64_t n, double shift = 0.0, bool square = false) {
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  auto block = [&](int64_t b) {
    double acc = 0.0;
    const int64_t end = std::min(n, (b + 1) * kBlock);
    if (square) {
      for (int64_t i = b * kBlock; i < end; ++i) {
        double d = static_cast<double>(x[i]) - shift;
        acc += d * d;
      }
    } else {
      for (int64_t i = b * kBlock; i < end; ++i) acc += static_cast<double>(x[i]);
    }
    return acc;
  };
  if (nblocks == 1) return block(0);
  std::vector<double> partial(nblocks);
#pragma omp parallel for schedule(static) if (n >= kParallelGrain && !omp_in_parallel())
  for (int64_t b = 0; b < nblocks; ++b) partial[b] = block(b);
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

template <class T>
void reduce_rows(ReduceOp op, const T* x, int64_t outer, int64_t n, T* out, int64_t* idx,
                 int64_t correction) {
#pragma omp parallel for schedule(static) if (outer > 1 && outer * n >= kParallelGrain)
  for (int64_t o = 0; o < outer; ++o) {
    const T* row = x + o * n;
    switch (op) {
      case ReduceOp::sum: out[o] = static_cast<T>(sum_contiguous(row, n)); break;
      case ReduceOp::mean: out[o] = static_cast<T>(sum_contiguous(row, n) / n); break;
      case ReduceOp::var: {
        double m = sum_contiguous(row, n) / n;
        out[o] = static_cast<T>(sum_contiguous(row, n, m, true) / double(n - correction));
        break;
      }
      case ReduceOp::max:
      case ReduceOp::min: {
        const bool is_max = op == ReduceOp::max;
        T best = row[0];
        int64_t at = 0;
        for (int64_t i = 1; i < n; ++i) {
          T v = row[i];
          if (best != best) break;  // NaN wins and stays
          if (v != v || (is_max ? v > best : v < best)) {
            best = v;
            at = i;
          }
        }
        out[o] = best;
        if (idx) idx[o] = at;
        break;
      }
    }
  }
}

// The reduced dim is not innermost: accumulate whole inner rows at a time.
template <class T>
void reduce_strided(ReduceOp op, const T* x, int64_t outer, int64_t n, int64_t inner, T* out,
                    int64_t* idx, int64_t correction) {
  constexpr int64_t kTile = 512;
  const int64_t tiles = (inner + kTile - 1) / kTile;
#pragma omp parallel for schedule(static) collapse(2) if (outer * n * inner >= kParallelGrain)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t i0 = t * kTile, w = std::min(kTile, inner - i0);
      const T* base = x + o * n * inner + i0;
      T* dst = out + o * inner + i0;
      if (op == ReduceOp::max || op == ReduceOp::min) {
        const bool is_max = op == ReduceOp::max;
        std::vector<int64_t> at(w, 0);
        for (int64_t i = 0; i < w; ++i) dst[i] = base[i];
        for (int64_t j = 1; j < n; ++j) {
          const T* r = base + j * inner;
          for (int64_t i = 0; i < w; ++i) {
            T v = r[i], b = dst[i];
            if (b == b && (v != v || (is_max ? v > b : v < b))) {
              dst[i] = v;
              at[i] = j;
            }
          }
        }
        if (idx) std::copy(at.begin(), at.end(), idx + o * inner + i0);
        continue;
      }
      std::vector<double> acc(w, 0.0);
      for (int64_t j = 0; j < n; ++j) {
        const T* r = base + j * inner;
        for (int64_t i = 0; i < w; ++i) acc[i] += static_cast<double>(r[i]);
      }
      if (op == ReduceOp::sum) {
        for (int64_t i = 0; i < w; ++i) dst[i] = static_cast<T>(acc[i]);
      } else if (op == ReduceOp::mean) {
        for (int64_t i = 0; i < w; ++i) dst[i] = static_cast<T>(acc[i] / n);
      } else {  // var: second pass around the mean
        std::vector<double> sq(w, 0.0);
        for (int64_t i = 0; i < w; ++i) acc[i] /= n;
        for (int64_t j = 0; j < n; ++j) {
          const T* r = base + j * inner;
          for (int64_t i = 0; i < w; ++i) {
            double d = static_cast<double>(r[i]) - acc[i];
            sq[i] += d * d;
          }
        }
        for (int64_t i = 0; i < w; ++i) dst[i] = static_cast<T>(sq[i] / double(n - correction));
      }
    }
  }
}

}  // namespace

void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
            const Tensor& out, const Tensor& indices, int64_t correction) {
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    int64_t* idx = indices.defined() ? indices.data<int64_t>() : nullptr;
    if (inner == 1) {
      reduce_rows<T>(op, x.data<T>(), outer, n, out.data<T>(), idx, correction);
    } else {
      reduce_strided<T>(op, x.data<T>(), outer, n, inner, out.data<T>(), idx, correction);
    }
  };
  if (op == ReduceOp::max || op == ReduceOp::min || op == ReduceOp::sum) {
    dispatch_all("reduce", x.dtype(), run);
  } else {
    dispatch_floating("reduce", x.dtype(), run);
  }
}

}  // namespace qs::engine::cpu
