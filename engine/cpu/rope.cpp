#include <cmath>
#include <vector>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"

namespace qs::engine::cpu {

void rope(const Tensor& x, const Tensor& positions, double theta, bool inverse,
          const Tensor& out) {
  dispatch_floating("rope", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t d = x.size(-1), t_len = x.size(-2), half = d / 2;
    const int64_t rows = x.numel() / (t_len * d);
    const int64_t* pos = positions.data<int64_t>();
    // Angle table (T, D/2), computed in double once per call; the sines and
    // cosines cost more than rotating (B, H, T, D) f32 values, hence threads.
    std::vector<double> freq(half);
    for (int64_t i = 0; i < half; ++i) freq[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(d));
    std::vector<T> cos_t(t_len * half), sin_t(t_len * half);
#pragma omp parallel for schedule(static) if (t_len * half >= 1024)
    for (int64_t t = 0; t < t_len; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        double a = static_cast<double>(pos[t]) * freq[i];
        cos_t[t * half + i] = static_cast<T>(std::cos(a));
        sin_t[t * half + i] = static_cast<T>(inverse ? -std::sin(a) : std::sin(a));
      }
    }
    // Any layout with unit-stride rows: the offset of each leading index.
    auto row_offsets = [&](const Tensor& a) {
      std::vector<int64_t> off(static_cast<std::size_t>(rows), 0);
      for (int64_t r = 0; r < rows; ++r) {
        int64_t rest = r;
        for (int64_t dim = a.dim() - 3; dim >= 0; --dim) {
          off[r] += rest % a.size(dim) * a.strides()[dim];
          rest /= a.size(dim);
        }
      }
      return off;
    };
    const std::vector<int64_t> x_rows = row_offsets(x), o_rows = row_offsets(out);
    const int64_t x_t = x.strides()[x.dim() - 2], o_t = out.strides()[out.dim() - 2];
    const T* xp = x.data<T>();
    T* op = out.data<T>();
#pragma omp parallel for schedule(static) collapse(2) if (x.numel() >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t t = 0; t < t_len; ++t) {
        const T* xr = xp + x_rows[r] + t * x_t;
        T* o = op + o_rows[r] + t * o_t;
        const T* c = cos_t.data() + t * half;
        const T* s = sin_t.data() + t * half;
        for (int64_t i = 0; i < half; ++i) {
          const T x1 = xr[i], x2 = xr[i + half];
          o[i] = x1 * c[i] - x2 * s[i];
          o[i + half] = x2 * c[i] + x1 * s[i];
        }
      }
    }
  });
}

}  // namespace qs::engine::cpu
