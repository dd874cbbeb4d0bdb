#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"

namespace qs::engine::cpu {

namespace {

// The cosines and sines of the rotation angles (T, D/2), computed in double.
// A training step rotates q and k of every layer forward and back with the
// same positions: the table is kept for the last (positions, theta, D) seen on
// this thread, as the transcendentals cost about as much as the rotation.
class AngleTable {
 public:
  void update(const int64_t* pos, int64_t t_len, int64_t d, double theta, double scale) {
    if (d == d_ && theta == theta_ && scale == scale_ && positions_.size() == static_cast<std::size_t>(t_len) &&
        std::equal(positions_.begin(), positions_.end(), pos)) {
      return;
    }
    positions_.assign(pos, pos + t_len);
    d_ = d;
    theta_ = theta;
    scale_ = scale;
    const int64_t half = d / 2;
    std::vector<double> freq(half);
    for (int64_t i = 0; i < half; ++i) freq[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(d));
    cos64_.resize(t_len * half);
    sin64_.resize(t_len * half);
#pragma omp parallel for schedule(static) if (t_len * half >= 1024)
    for (int64_t t = 0; t < t_len; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const double a = static_cast<double>(pos[t]) * scale * freq[i];
        cos64_[t * half + i] = std::cos(a);
        sin64_[t * half + i] = std::sin(a);
      }
    }
    cos32_.assign(cos64_.begin(), cos64_.end());
    sin32_.assign(sin64_.begin(), sin64_.end());
  }
  template <class T>
  const std::vector<T>& cos() const {
    if constexpr (std::is_same_v<T, float>) return cos32_; else return cos64_;
  }
  template <class T>
  const std::vector<T>& sin() const {
    if constexpr (std::is_same_v<T, float>) return sin32_; else return sin64_;
  }

 private:
  std::vector<int64_t> positions_;
  int64_t d_ = 0;
  double theta_ = 0, scale_ = 0;
  std::vector<double> cos64_, sin64_;
  std::vector<float> cos32_, sin32_;
};

}  // namespace

void rope(const Tensor& x, const Tensor& positions, double theta, double position_scale, bool inverse,
          const Tensor& out) {
  const int64_t d = x.size(-1), t_len = x.size(-2), half = d / 2;
  const int64_t rows = x.numel() / (t_len * d);
  thread_local AngleTable angles;
  angles.update(positions.data<int64_t>(), t_len, d, theta, position_scale);
  dispatch_floating("rope", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const std::vector<T>& cos_t = angles.cos<T>();
    const std::vector<T>& sin_t = angles.sin<T>();
    const T sign = inverse ? T(-1) : T(1);  // the inverse rotates by -angle
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
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t t = 0; t < t_len; ++t) {
        const T* xr = xp + x_rows[r] + t * x_t;
        T* o = op + o_rows[r] + t * o_t;
        const T* c = cos_t.data() + t * half;
        const T* s = sin_t.data() + t * half;
        for (int64_t i = 0; i < half; ++i) {
          const T x1 = xr[i], x2 = xr[i + half];
          const T si = sign * s[i];
          o[i] = x1 * c[i] - x2 * si;
          o[i + half] = x2 * c[i] + x1 * si;
        }
      }
    }
  });
}

}  // namespace qs::engine::cpu
