// Philox draws, bit for bit the CPU's (engine/rng.h), and dropout with its
// mask.
#include <type_traits>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

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

// As engine/cpu/random.cpp: f64 numbers for f64, f32 numbers otherwise; the
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

}  // namespace qs::engine::cuda
