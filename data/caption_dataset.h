#pragma once
// Image-caption pairs of the shape world, stored in HDF5: images u8
// (N, H, W, 3), captions (newline-separated UTF-8 bytes, u8) and the
// scene graphs (N, 6, 7) f32 rows [shape, color, size, x, y, radius, pattern], -1
// padded, so questions can be generated from them later. A dataset is
// reused from its file when the generator config is unchanged.
#include <filesystem>
#include <string>
#include <vector>

#include "data/scene.h"
#include "engine/tensor.h"

namespace qs::data {

struct CaptionDatasetConfig {
  uint64_t seed = 0;
  int64_t size = 1000;
  SceneConfig scene;
  std::string key() const;  // identifies the generated content
};

struct CaptionDataset {
  engine::Tensor images;  // u8 (N, H, W, 3)
  std::vector<std::string> captions;
  std::vector<Scene> scenes;
};

CaptionDataset make_caption_dataset(const CaptionDatasetConfig& config);
void save_caption_dataset(const std::filesystem::path& path, const CaptionDataset& data);
CaptionDataset load_caption_dataset(const std::filesystem::path& path);
// dir/captions_<key>.h5: loaded when present, else generated and saved.
CaptionDataset cached_caption_dataset(const CaptionDatasetConfig& config, const std::filesystem::path& dir);

}  // namespace qs::data
