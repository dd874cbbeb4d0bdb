// Philox draws (engine/rng.h) and dropout on the CPU.
#include <algorithm>
#include <bit>
#include <type_traits>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/rng.h"

namespace qs::engine::cpu {

namespace {

constexpr int64_t kChunk = 4096;  // elements per task of the dropout loops

// out = keep ? x * scale : 0, with a bit mask for the select (written as a
// select, GCC left the loop scalar).
template <class T>
void masked_scale(const T* x, const uint8_t* keep, T scale, T* out, int64_t len) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    out[j] = std::bit_cast<T>(std::bit_cast<Bits>(x[j] * scale) & (Bits{0} - static_cast<Bits>(keep[j])));
  }
}

}  // namespace

void rand_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  dispatch_floating("rand", out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = out.data<T>();
    const int64_t n = out.numel();
    if constexpr (std::is_same_v<T, float>) {
      // One Philox block per element; written as a plain loop so it vectorizes.
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
      for (int64_t i = 0; i < n; ++i) {
        p[i] = static_cast<float>(lo + (hi - lo) * static_cast<double>(uniform_f32(seed, offset + static_cast<uint64_t>(i))));
      }
    } else {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(lo + (hi - lo) * uniform_f64(seed, offset + i));
    }
  });
}

void dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, const Tensor& out, const Tensor& keep) {
  dispatch_floating("dropout", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    uint8_t* kp = keep.defined() ? keep.data<uint8_t>() : nullptr;
    const int64_t n = x.numel();
    // The comparison and the scale in T, as ge(rand(...), p) and a scalar product in T gave.
    const T threshold = static_cast<T>(p), scale = static_cast<T>(1.0 / (1.0 - p));
    if constexpr (std::is_same_v<T, float>) {
      // Per chunk, the draw alone and then the select: Philox vectorizes only
      // in a loop without other work (both in one loop stayed scalar, 16 ns
      // an element on AVX2).
      const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
      for (int64_t c = 0; c < chunks; ++c) {
        uint8_t local[kChunk];
        const int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
        uint8_t* m = kp ? kp + i0 : local;
        const uint64_t at = offset + static_cast<uint64_t>(i0);
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) m[j] = static_cast<uint8_t>(uniform_f32(seed, at + static_cast<uint64_t>(j)) >= threshold);
        masked_scale(xp + i0, m, scale, op + i0, len);
      }
    } else {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
      for (int64_t i = 0; i < n; ++i) {
        const bool k = static_cast<T>(uniform_f64(seed, offset + static_cast<uint64_t>(i))) >= threshold;
        if (kp) kp[i] = static_cast<uint8_t>(k);
        op[i] = k ? xp[i] * scale : T(0);
      }
    }
  });
}

void dropout_backward(const Tensor& dy, const Tensor& keep, double p, const Tensor& dx) {
  dispatch_floating("dropout_backward", dy.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* gp = dy.data<T>();
    const uint8_t* kp = keep.data<uint8_t>();
    T* op = dx.data<T>();
    const int64_t n = dy.numel();
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t i0 = c * kChunk;
      masked_scale(gp + i0, kp + i0, scale, op + i0, std::min(kChunk, n - i0));
    }
  });
}

void rand_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  dispatch_floating("randn", out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = out.data<T>();
    const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelGrain / 8)
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(mean + std * normal_f64(seed, offset + i));
  });
}

}  // namespace qs::engine::cpu
