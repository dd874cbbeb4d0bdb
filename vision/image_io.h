#pragma once
// Image files through stb: PNG/JPEG/BMP/... in, PNG out. Images are u8
// tensors (H, W, 3).
#include <filesystem>

#include "engine/tensor.h"

namespace qs::vision {

// Any format stb reads, converted to RGB; a corrupt or unsupported file is an
// error naming the file and stb's reason.
engine::Tensor load_image(const std::filesystem::path& path);
void save_png(const std::filesystem::path& path, const engine::Tensor& image);

}  // namespace qs::vision
