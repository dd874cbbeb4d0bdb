#include "data/caption_dataset.h"

#include <cmath>

#include <sstream>

#include "data/file_cache.h"
#include "data/render.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"

namespace qs::data {

namespace {
// Per object: shape, color, size, x, y, radius, pattern.
constexpr int64_t kGraphColumns = 7;
}  // namespace

namespace e = qs::engine;

std::string CaptionDatasetConfig::key() const {
  // Plain worlds keep the first edition's key (and cached files).
  const std::string patterns = scene.patterned > 0 ? fmt::format("_p{:.3f}", scene.patterned) : "";
  return fmt::format("s{}_n{}_c{}_o{}-{}{}_v1", seed, size, scene.canvas, scene.min_objects, scene.max_objects, patterns);
}

CaptionDataset make_caption_dataset(const CaptionDatasetConfig& c) {
  QS_CHECK(c.size > 0, "caption dataset: size must be positive, got {}", c.size);
  CaptionDataset d;
  const int64_t n = c.scene.canvas;
  d.images = e::Tensor({c.size, n, n, 3}, e::DType::u8);
  for (int64_t i = 0; i < c.size; ++i) {
    Rng rng = Rng(c.seed).fork(static_cast<uint64_t>(i));
    Scene s = sample_scene(rng, c.scene);
    d.captions.push_back(describe_scene(s, rng));
    e::copy_(d.images.select(0, i), render_scene(s, c.seed * 7919 + static_cast<uint64_t>(i)));
    d.scenes.push_back(std::move(s));
  }
  return d;
}

void save_caption_dataset(const std::filesystem::path& path, const CaptionDataset& d) {
  e::TensorFile f;
  f.tensors["images"] = d.images;
  const int64_t n = static_cast<int64_t>(d.scenes.size());
  e::Tensor graph = e::full({n, 6, kGraphColumns}, -1.0);
  float* g = graph.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d.scenes[i].objects.size(); ++j) {
      const Object& o = d.scenes[i].objects[j];
      float* row = g + (i * 6 + static_cast<int64_t>(j)) * kGraphColumns;
      row[0] = static_cast<float>(o.shape);
      row[1] = static_cast<float>(o.color);
      row[2] = static_cast<float>(o.size);
      row[3] = static_cast<float>(o.x);
      row[4] = static_cast<float>(o.y);
      row[5] = static_cast<float>(o.radius);
      row[6] = static_cast<float>(o.pattern);
    }
  }
  f.tensors["scenes"] = graph;
  // Newline-separated UTF-8 bytes: HDF5 attributes are limited to 64 KiB.
  std::string joined;
  for (const std::string& c : d.captions) joined += c + "\n";
  e::Tensor text({static_cast<int64_t>(joined.size())}, e::DType::u8);
  std::copy(joined.begin(), joined.end(), text.data<uint8_t>());
  f.tensors["captions"] = text;

  e::save_tensor_file(path, f);
}

CaptionDataset load_caption_dataset(const std::filesystem::path& path) {
  e::TensorFile f = e::load_tensor_file(path);
  QS_CHECK(f.tensors.count("images") && f.tensors.count("scenes") && f.tensors.count("captions"),
           "caption dataset {}: missing images, scenes or captions", path.string());
  CaptionDataset d;
  d.images = f.tensors.at("images");
  const e::Tensor& bytes = f.tensors.at("captions");
  std::stringstream ss(std::string(reinterpret_cast<const char*>(bytes.data<uint8_t>()), static_cast<std::size_t>(bytes.numel())));
  for (std::string line; std::getline(ss, line);) d.captions.push_back(line);
  const e::Tensor& graph = f.tensors.at("scenes");
  const int64_t n = d.images.size(0);
  QS_CHECK(static_cast<int64_t>(d.captions.size()) == n && graph.size(0) == n,
           "caption dataset {}: {} images, {} captions and {} scenes disagree", path.string(), n, d.captions.size(),
           graph.size(0));
  // Files of the first edition have 6 columns (no pattern: all plain).
  const int64_t cols = graph.dim() == 3 ? graph.size(2) : 0;
  QS_CHECK(graph.dtype() == e::DType::f32 && graph.dim() == 3 && graph.size(1) == 6 && (cols == 6 || cols == kGraphColumns),
           "caption dataset {}: scenes must be f32 (N, 6, 6 or {}), got {}", path.string(), kGraphColumns,
           e::describe(graph));
  const float* g = graph.data<float>();
  auto in_range = [&](float v, int n, const char* what, int64_t i) {
    QS_CHECK(v >= 0 && v < n && v == std::floor(v), "caption dataset {}: scene {} has {} {} (expected 0..{})",
             path.string(), i, what, v, n - 1);
    return static_cast<int>(v);
  };
  for (int64_t i = 0; i < n; ++i) {
    Scene s;
    s.canvas = static_cast<int>(d.images.size(1));
    for (int64_t j = 0; j < 6; ++j) {
      const float* row = g + (i * 6 + j) * cols;
      if (row[0] < 0) break;
      Object o{static_cast<Shape>(in_range(row[0], 5, "shape", i)), static_cast<Color>(in_range(row[1], 6, "color", i)),
               static_cast<Size>(in_range(row[2], 2, "size", i)), row[3], row[4], row[5]};
      if (cols == kGraphColumns) o.pattern = static_cast<Pattern>(in_range(row[6], 4, "pattern", i));
      s.objects.push_back(o);
    }
    d.scenes.push_back(std::move(s));
  }
  return d;
}

CaptionDataset cached_caption_dataset(const CaptionDatasetConfig& c, const std::filesystem::path& dir) {
  return cached_file(
      dir / ("captions_" + c.key() + ".h5"), [&c] { return make_caption_dataset(c); }, save_caption_dataset,
      load_caption_dataset);
}

}  // namespace qs::data
