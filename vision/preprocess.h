#pragma once
// CLIP preprocessing as CLIPImageProcessor does it: optionally pad to a
// square with the mean color (LLaVA's `pad` aspect mode), resize the short
// side (PIL's bicubic), center crop, scale to [0, 1] and normalize per channel.
#include <array>

#include "engine/tensor.h"

namespace qs::vision {

struct PreprocessConfig {
  int64_t size = 64;
  bool pad_to_square = true;
  std::array<double, 3> mean{0.48145466, 0.4578275, 0.40821073};  // CLIP's
  std::array<double, 3> std{0.26862954, 0.26130258, 0.27577711};
};

// All on u8 (H, W, 3) images.
engine::Tensor pad_to_square(const engine::Tensor& image, const std::array<uint8_t, 3>& color);
// Bicubic resampling as PIL's Image.resize(BICUBIC) computes it, bit for bit
// (antialiased when shrinking), which is what CLIPImageProcessor uses.
engine::Tensor resize_bicubic(const engine::Tensor& image, int64_t height, int64_t width);
// The short side to `size`, the long side scaled and truncated, as
// transformers' shortest_edge resize does.
engine::Tensor resize_short_side(const engine::Tensor& image, int64_t size);
engine::Tensor center_crop(const engine::Tensor& image, int64_t size);
// u8 (H, W, 3) -> f32 (3, H, W), (x / 255 - mean) / std.
engine::Tensor normalize(const engine::Tensor& image, const PreprocessConfig& config);

// Padded (LLaVA), resized and cropped to the model's size, still u8 (size, size, 3).
engine::Tensor fit_image(const engine::Tensor& image, const PreprocessConfig& config);
// fit_image, then normalize: f32 (3, size, size).
engine::Tensor preprocess(const engine::Tensor& image, const PreprocessConfig& config);
// A batch already at the model's size: u8 (B, H, W, 3) -> f32 (B, 3, H, W).
engine::Tensor normalize_batch(const engine::Tensor& images, const PreprocessConfig& config);

}  // namespace qs::vision
