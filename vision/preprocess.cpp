#include "vision/preprocess.h"

#include <stb_image_resize.h>

#include <cmath>

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

e::Tensor resize_short_side(const e::Tensor& image, int64_t size) {
  check_image("resize_short_side", image);
  QS_CHECK(size > 0, "resize_short_side: size must be positive, got {}", size);
  const int64_t h = image.size(0), w = image.size(1);
  const int64_t nh = h <= w ? size : static_cast<int64_t>(std::lround(static_cast<double>(h) * size / w));
  const int64_t nw = w <= h ? size : static_cast<int64_t>(std::lround(static_cast<double>(w) * size / h));
  if (nh == h && nw == w) return image;
  e::Tensor src = image.contiguous();
  e::Tensor out({nh, nw, 3}, e::DType::u8);
  const int ok = stbir_resize_uint8_generic(src.data<uint8_t>(), static_cast<int>(w), static_cast<int>(h), 0,
                                            out.data<uint8_t>(), static_cast<int>(nw), static_cast<int>(nh), 0, 3,
                                            STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_CATMULLROM,
                                            STBIR_COLORSPACE_LINEAR, nullptr);
  QS_CHECK(ok, "resize_short_side: resizing {} to {}x{} failed", e::describe(image), nh, nw);
  return out;
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

e::Tensor preprocess(const e::Tensor& image, const PreprocessConfig& c) {
  e::Tensor img = image;
  if (c.pad_to_square) {
    std::array<uint8_t, 3> color;
    for (int i = 0; i < 3; ++i) color[i] = static_cast<uint8_t>(std::lround(c.mean[i] * 255.0));
    img = pad_to_square(img, color);
  }
  return normalize(center_crop(resize_short_side(img, c.size), c.size), c);
}

}  // namespace qs::vision
