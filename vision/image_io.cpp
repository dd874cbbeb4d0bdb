#include "vision/image_io.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <cstring>

#include "engine/error.h"

namespace qs::vision {

engine::Tensor load_image(const std::filesystem::path& path) {
  QS_CHECK(std::filesystem::exists(path), "image {}: no such file", path.string());
  int w = 0, h = 0, channels = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &channels, 3);
  QS_CHECK(data, "image {}: cannot decode ({})", path.string(), stbi_failure_reason());
  engine::Tensor img({h, w, 3}, engine::DType::u8);
  std::memcpy(img.data<uint8_t>(), data, static_cast<std::size_t>(w) * h * 3);
  stbi_image_free(data);
  return img;
}

void save_png(const std::filesystem::path& path, const engine::Tensor& image) {
  QS_CHECK(image.dim() == 3 && image.size(2) == 3 && image.dtype() == engine::DType::u8,
           "save_png {}: image must be u8 (H, W, 3), got {}", path.string(), engine::describe(image));
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  engine::Tensor c = image.contiguous();
  const int h = static_cast<int>(c.size(0)), w = static_cast<int>(c.size(1));
  QS_CHECK(stbi_write_png(path.c_str(), w, h, 3, c.data<uint8_t>(), w * 3) != 0, "save_png {}: write failed",
           path.string());
}

}  // namespace qs::vision
