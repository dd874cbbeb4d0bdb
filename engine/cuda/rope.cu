// Rotary position embedding, one thread per rotated pair.
#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

template <class T>
__global__ void rope_kernel(const T* x, const int64_t* pos, double theta, double scale, bool inverse, T* out,
                            int64_t rows, int64_t t_len, int64_t d) {
  using A = acc_t<T>;
  const int64_t half = d / 2;
  QS_GRID_STRIDE(k, rows * t_len * half) {
    const int64_t i = k % half, t = (k / half) % t_len, r = k / (half * t_len);
    // Angles in double, as on the CPU.
    const double freq = pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(d));
    const double angle = static_cast<double>(pos[t]) * scale * freq;
    const A c = static_cast<A>(cos(angle));
    const A s = static_cast<A>(inverse ? -sin(angle) : sin(angle));
    const int64_t base = (r * t_len + t) * d;
    const A x1 = load(x + base + i), x2 = load(x + base + i + half);
    out[base + i] = cast_to<T>(x1 * c - x2 * s);
    out[base + i + half] = cast_to<T>(x2 * c + x1 * s);
  }
}

}  // namespace

void rope(const Tensor& x, const Tensor& positions, double theta, double position_scale, bool inverse,
          const Tensor& out) {
  View xv = view_of(x), pv = view_of(positions), ov = view_of(out);
  const int64_t d = xv.last, t_len = pv.numel;
  const int64_t rows = xv.numel / (t_len * d);
  const int64_t total = rows * t_len * (d / 2);
  if (total == 0) return;
  dispatch_floating("rope", xv.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    rope_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(
        cptr<T>(xv), cptr<int64_t>(pv), theta, position_scale, inverse, mptr<T>(ov), rows, t_len, d);
  });
  check_launch("rope_kernel");
}

}  // namespace qs::engine::cuda
