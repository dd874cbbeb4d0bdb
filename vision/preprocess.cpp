#include "vision/preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/ops.h"

namespace qs::vision {

namespace e = qs::engine;

namespace {
void check_image(const char* op, const e::Tensor& image) {
  QS_CHECK(image.defined() && image.dim() == 3 && image.size(2) == 3 && image.dtype() == e::DType::u8,
           "{}: image must be u8 (H, W, 3), got {}", op, e::describe(image));
  QS_CHECK(image.size(0) > 0 && image.size(1) > 0, "{}: empty image {}", op, e::describe(image));
}
}  // namespace

e::Tensor pad_to_square(const e::Tensor& image, const std::array<uint8_t, 3>& color) {
  check_image("pad_to_square", image);
  const int64_t h = image.size(0), w = image.size(1), n = std::max(h, w);
  if (h == w) return image;
  e::Tensor out({n, n, 3}, e::DType::u8);
  uint8_t* p = out.data<uint8_t>();
  for (int64_t i = 0; i < n * n; ++i) {
    for (int c = 0; c < 3; ++c) p[i * 3 + c] = color[c];
  }
  // Centred, as LLaVA's expand2square does.
  const int64_t top = (n - h) / 2, left = (n - w) / 2;
  e::copy_(out.slice(0, top, top + h).slice(1, left, left + w), image);
  return out;
}

namespace {

// PIL's bicubic (Keys, a = -0.5) and its resampling (Pillow's
// libImaging/Resample.c, which CLIPImageProcessor calls through
// Image.resize): separable, horizontal pass first into u8; when shrinking,
// the kernel widens by the scale (antialiasing); weights normalised per
// output pixel, then fixed point with 22 fractional bits.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Taps {
  int64_t ksize = 0;
  std::vector<int64_t> first, count;  // per output position
  std::vector<int32_t> weight;        // (out, ksize), fixed point
};

Taps taps(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  Taps t;
  t.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.weight.assign(static_cast<std::size_t>(out * t.ksize), 0);
  std::vector<double> k(static_cast<std::size_t>(t.ksize));
  for (int64_t o = 0; o < out; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(center - support + 0.5));
    const int64_t hi = std::min<int64_t>(in, static_cast<int64_t>(center + support + 0.5));
    double sum = 0.0;
    for (int64_t x = 0; x < hi - lo; ++x) {
      k[x] = bicubic((static_cast<double>(x + lo) - center + 0.5) / filterscale);
      sum += k[x];
    }
    for (int64_t x = 0; x < hi - lo; ++x) {
      const double w = sum != 0.0 ? k[x] / sum : k[x];
      t.weight[o * t.ksize + x] = static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    t.first[o] = lo;
    t.count[o] = hi - lo;
  }
  return t;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t{1} << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// out(o) = sum_k in(first(o) + k) w(o, k) along one axis of a u8 (rows, cols, 3)
// buffer: `along_cols` resamples each row, else each column.
std::vector<uint8_t> resample(const std::vector<uint8_t>& in, int64_t rows, int64_t cols, const Taps& t,
                              int64_t out_len, bool along_cols) {
  const int64_t out_rows = along_cols ? rows : out_len, out_cols = along_cols ? out_len : cols;
  std::vector<uint8_t> out(static_cast<std::size_t>(out_rows * out_cols * 3));
  for (int64_t r = 0; r < out_rows; ++r) {
    for (int64_t c = 0; c < out_cols; ++c) {
      const int64_t o = along_cols ? c : r;
      for (int ch = 0; ch < 3; ++ch) {
        int64_t acc = int64_t{1} << (kPrecisionBits - 1);
        for (int64_t k = 0; k < t.count[o]; ++k) {
          const int64_t i = t.first[o] + k;
          const uint8_t v = along_cols ? in[(r * cols + i) * 3 + ch] : in[(i * cols + c) * 3 + ch];
          acc += static_cast<int64_t>(v) * t.weight[o * t.ksize + k];
        }
        out[(r * out_cols + c) * 3 + ch] = clip8(acc);
      }
    }
  }
  return out;
}

}  // namespace

e::Tensor resize_bicubic(const e::Tensor& image, int64_t height, int64_t width) {
  check_image("resize_bicubic", image);
  QS_CHECK(height > 0 && width > 0, "resize_bicubic: the size {}x{} must be positive", height, width);
  const int64_t h = image.size(0), w = image.size(1);
  if (h == height && w == width) return image;
  const e::Tensor src = image.contiguous();
  std::vector<uint8_t> buf(src.data<uint8_t>(), src.data<uint8_t>() + h * w * 3);
  int64_t cols = w;
  if (width != w) {
    buf = resample(buf, h, w, taps(w, width), width, true);
    cols = width;
  }
  if (height != h) buf = resample(buf, h, cols, taps(h, height), height, false);
  e::Tensor out({height, width, 3}, e::DType::u8);
  std::copy(buf.begin(), buf.end(), out.data<uint8_t>());
  return out;
}

e::Tensor resize_short_side(const e::Tensor& image, int64_t size) {
  check_image("resize_short_side", image);
  QS_CHECK(size > 0, "resize_short_side: size must be positive, got {}", size);
  const int64_t h = image.size(0), w = image.size(1);
  // transformers' get_resize_output_image_size: the long side truncated.
  const int64_t nh = h <= w ? size : size * h / w;
  const int64_t nw = w <= h ? size : size * w / h;
  return resize_bicubic(image, nh, nw);
}

e::Tensor center_crop(const e::Tensor& image, int64_t size) {
  check_image("center_crop", image);
  const int64_t h = image.size(0), w = image.size(1);
  QS_CHECK(size <= h && size <= w, "center_crop: {} is smaller than the crop {}", e::describe(image), size);
  const int64_t top = (h - size) / 2, left = (w - size) / 2;
  return image.slice(0, top, top + size).slice(1, left, left + size);
}

e::Tensor normalize(const e::Tensor& image, const PreprocessConfig& c) {
  check_image("normalize", image);
  e::Tensor x = image.to(e::DType::f32).permute({2, 0, 1}).contiguous() * (1.0 / 255.0);  // (3, H, W)
  e::Tensor mean = e::from_vector<float>({float(c.mean[0]), float(c.mean[1]), float(c.mean[2])}, {3, 1, 1});
  e::Tensor std = e::from_vector<float>({float(c.std[0]), float(c.std[1]), float(c.std[2])}, {3, 1, 1});
  return (x - mean) / std;
}

e::Tensor normalize_batch(const e::Tensor& images, const PreprocessConfig& c) {
  QS_CHECK(images.dim() == 4 && images.size(3) == 3 && images.dtype() == e::DType::u8,
           "normalize_batch: images must be u8 (B, H, W, 3), got {}", e::describe(images));
  e::Tensor x = images.to(e::DType::f32).permute({0, 3, 1, 2}).contiguous() * (1.0 / 255.0);
  e::Tensor mean = e::from_vector<float>({float(c.mean[0]), float(c.mean[1]), float(c.mean[2])}, {1, 3, 1, 1});
  e::Tensor std = e::from_vector<float>({float(c.std[0]), float(c.std[1]), float(c.std[2])}, {1, 3, 1, 1});
  return (x - mean) / std;
}

e::Tensor fit_image(const e::Tensor& image, const PreprocessConfig& c) {
  e::Tensor img = image;
  if (c.pad_to_square) {
    std::array<uint8_t, 3> color;
    // LLaVA's expand2square background: tuple(int(x * 255) for x in image_mean), truncated.
    for (int i = 0; i < 3; ++i) color[i] = static_cast<uint8_t>(c.mean[i] * 255.0);
    img = pad_to_square(img, color);
  }
  return center_crop(resize_short_side(img, c.size), c.size);
}

e::Tensor preprocess(const e::Tensor& image, const PreprocessConfig& c) { return normalize(fit_image(image, c), c); }

}  // namespace qs::vision
