// Copies between any dtypes and layouts (broadcast Views) and fills.
#include <type_traits>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

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

}  // namespace

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

}  // namespace qs::engine::cuda
