#include <cstring>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"

namespace qs::engine::cpu {

void index_select(const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Tensor& idx,
                  const Tensor& out) {
  // Dtype-agnostic: rows of `inner` elements are moved as bytes.
  const std::size_t row = static_cast<std::size_t>(inner) * dtype_size(x.dtype());
  const char* xp = static_cast<const char*>(x.raw_data());
  char* op = static_cast<char*>(out.raw_data());
  const int64_t* ip = idx.data<int64_t>();
  const int64_t len = idx.numel();
#pragma omp parallel for schedule(static) collapse(2) if (outer * len * inner >= kParallelGrain)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < len; ++j) {
      std::memcpy(op + (o * len + j) * row, xp + (o * n + ip[j]) * row, row);
    }
  }
}

void index_add(const Tensor& dst, int64_t outer, int64_t n, int64_t inner, const Tensor& idx,
               const Tensor& src) {
  dispatch_floating("index_add_", dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dp = dst.data<T>();
    const T* sp = src.data<T>();
    const int64_t* ip = idx.data<int64_t>();
    const int64_t len = idx.numel();
    // Repeated indices write the same row, so threads split the inner (column)
    // range and walk the indices in order: race-free and deterministic.
    constexpr int64_t kCols = 256;
    const int64_t tiles = (inner + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) collapse(2) if (outer * len * inner >= kParallelGrain)
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t c0 = t * kCols, c1 = std::min(inner, c0 + kCols);
        for (int64_t j = 0; j < len; ++j) {
          T* d = dp + (o * n + ip[j]) * inner;
          const T* s = sp + (o * len + j) * inner;
          for (int64_t c = c0; c < c1; ++c) d[c] += s[c];
        }
      }
    }
  });
}

}  // namespace qs::engine::cpu
