#include "experiments/stages/clip_probes.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <yaml-cpp/yaml.h>

#include "autograd/functions.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "experiments/stages/pretrain_clip.h"
#include "nn/optim/optimizer.h"

namespace qs::experiments {

namespace ag = qs::autograd;
namespace e = qs::engine;

double linear_probe(const e::Tensor& feats, const std::vector<int64_t>& labels, int64_t classes, int64_t steps) {
  const int64_t n = feats.size(0), half = n / 2, d = feats.size(1);
  QS_CHECK(static_cast<int64_t>(labels.size()) == n && half >= 2, "linear_probe: {} labels for {} feature rows",
           labels.size(), n);
  e::Tensor mu = e::mean(feats.slice(0, 0, half), 0, true);
  e::Tensor sd = e::sqrt(e::var(feats.slice(0, 0, half), 0, 1, true) + 1e-6);
  e::Tensor x = (feats - mu) / sd;
  e::Tensor y = e::from_vector(labels);
  ag::Var w(e::zeros({d, classes}), true), b(e::zeros({classes}), true);
  nn::AdamW opt({nn::ParamGroup{"probe", {{"w", w}, {"b", b}}, 1e-2, 1e-2}});
  const ag::Var train_x(x.slice(0, 0, half).contiguous());
  const e::Tensor train_y = y.slice(0, 0, half).contiguous();
  for (int64_t s = 0; s < steps; ++s) {
    ag::Var loss = ag::cross_entropy(ag::matmul(train_x, w) + b, train_y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  ag::NoGrad no_grad;
  e::Tensor pred = e::argmax(e::matmul(x.slice(0, half, n), w.data()) + b.data(), 1);
  return e::mean(e::eq(pred, y.slice(0, half, n)).to(e::DType::f64)).item<double>();
}

int64_t object_patch(const data::Scene& scene, const vision::VitConfig& c) {
  QS_CHECK(!scene.objects.empty(), "object_patch: the scene has no object");
  const int64_t grid = c.image_size / c.patch_size;
  auto cell = [&](double v) {
    return std::clamp<int64_t>(static_cast<int64_t>(v / scene.canvas * static_cast<double>(grid)), 0, grid - 1);
  };
  return cell(scene.objects[0].y) * grid + cell(scene.objects[0].x);
}

double majority_rate(const std::vector<int64_t>& labels) {
  const std::size_t half = labels.size() / 2;
  std::map<int64_t, int64_t> counts;
  for (std::size_t i = half; i < labels.size(); ++i) ++counts[labels[i]];
  int64_t best = 0;
  for (auto& [k, v] : counts) best = std::max(best, v);
  return static_cast<double>(best) / static_cast<double>(labels.size() - half);
}

namespace {

struct Readouts {
  e::Tensor patches, cls, object;  // object: only for one-object scenes
};

Readouts readouts(vision::VisionTransformer& vit, const data::CaptionDataset& data, const vision::PreprocessConfig& pre,
                  bool with_object) {
  ag::NoGrad no_grad;
  std::vector<e::Tensor> patches, cls, object;
  const e::Tensor& images = data.images;
  const int64_t n = images.size(0);
  for (int64_t s = 0; s < n; s += 64) {
    const int64_t end = std::min(n, s + 64);
    e::Tensor batch = vision::normalize_batch(images.slice(0, s, end), pre);
    e::Tensor f = vit.features(ag::Var(batch)).data();
    if (vit.config().select_class_token) f = f.slice(1, 1, f.size(1));
    patches.push_back(e::mean(f, 1));
    cls.push_back(vit.pooled(ag::Var(batch)).data());
    if (with_object) {
      const int64_t p = f.size(1);
      std::vector<int64_t> rows;
      for (int64_t i = s; i < end; ++i) rows.push_back((i - s) * p + object_patch(data.scenes[static_cast<std::size_t>(i)], vit.config()));
      object.push_back(e::index_select(f.reshape({-1, f.size(2)}), 0, e::from_vector(rows)));
    }
  }
  return {e::concat(patches, 0), e::concat(cls, 0), with_object ? e::concat(object, 0) : e::Tensor()};
}

}  // namespace

std::vector<ProbeResult> clip_probes(vision::VisionTransformer& vit, const ProbeSets& sets,
                                     const vision::PreprocessConfig& pre, int64_t steps) {
  const data::CaptionDataset &singles = sets.singles, &scenes = sets.scenes;
  const bool was_training = vit.is_training();
  vit.eval();
  std::vector<int64_t> shape, color, size;
  for (const data::Scene& s : singles.scenes) {
    QS_CHECK(s.objects.size() == 1, "clip_probes: the single-object probe set has a scene of {} objects",
             s.objects.size());
    shape.push_back(static_cast<int64_t>(s.objects[0].shape));
    color.push_back(static_cast<int64_t>(s.objects[0].color));
    size.push_back(static_cast<int64_t>(s.objects[0].size));
  }
  std::vector<int64_t> count;
  std::vector<std::vector<int64_t>> has(data::all_shapes().size());
  for (const data::Scene& s : scenes.scenes) {
    count.push_back(static_cast<int64_t>(s.objects.size()) - 1);
    for (std::size_t k = 0; k < has.size(); ++k) {
      bool any = false;
      for (const data::Object& o : s.objects) any = any || static_cast<std::size_t>(o.shape) == k;
      has[k].push_back(any);
    }
  }
  const Readouts one = readouts(vit, singles, pre, true), many = readouts(vit, scenes, pre, false);
  std::vector<ProbeResult> out;
  for (auto [readout, f1, fn] : {std::tuple{"patches", one.patches, many.patches}, std::tuple{"class", one.cls, many.cls}}) {
    out.push_back({"shape", readout, linear_probe(f1, shape, 5, steps), majority_rate(shape)});
    out.push_back({"color", readout, linear_probe(f1, color, 6, steps), majority_rate(color)});
    out.push_back({"size", readout, linear_probe(f1, size, 2, steps), majority_rate(size)});
    out.push_back({"count", readout, linear_probe(fn, count, 6, steps), majority_rate(count)});
    // Which shapes occur: five yes/no probes, averaged.
    ProbeResult present{"shape_present", readout, 0, 0};
    for (const auto& labels : has) {
      present.accuracy += linear_probe(fn, labels, 2, steps) / static_cast<double>(has.size());
      present.chance += majority_rate(labels) / static_cast<double>(has.size());
    }
    out.push_back(present);
  }
  // The token the projector hands the LLM for the object itself: what a mean
  // over 64 patches of mostly background dilutes.
  out.push_back({"shape", "object", linear_probe(one.object, shape, 5, steps), majority_rate(shape)});
  out.push_back({"color", "object", linear_probe(one.object, color, 6, steps), majority_rate(color)});
  out.push_back({"size", "object", linear_probe(one.object, size, 2, steps), majority_rate(size)});
  std::vector<int64_t> pattern;
  for (const data::Scene& sc : sets.patterned.scenes) {
    QS_CHECK(sc.objects.size() == 1, "clip_probes: the patterned probe set has a scene of {} objects", sc.objects.size());
    pattern.push_back(static_cast<int64_t>(sc.objects[0].pattern));
  }
  const Readouts glyph = readouts(vit, sets.patterned, pre, true);
  const int64_t n_patterns = static_cast<int64_t>(data::all_patterns().size());
  out.push_back({"pattern", "patches", linear_probe(glyph.patches, pattern, n_patterns, steps), majority_rate(pattern)});
  out.push_back({"pattern", "class", linear_probe(glyph.cls, pattern, n_patterns, steps), majority_rate(pattern)});
  out.push_back({"pattern", "object", linear_probe(glyph.object, pattern, n_patterns, steps), majority_rate(pattern)});
  if (was_training) vit.train();
  return out;
}

ProbeSets probe_sets(uint64_t seed, int64_t n, int64_t canvas, const std::filesystem::path& dataset_dir) {
  data::SceneConfig scene;
  scene.canvas = static_cast<int>(canvas);
  data::SceneConfig one = scene;
  one.min_objects = one.max_objects = 1;
  data::SceneConfig glyphs = one;
  glyphs.patterned = 0.75;  // plain and the three patterns, a quarter each
  return {data::cached_caption_dataset({seed + 2000003, n, one}, dataset_dir),
          data::cached_caption_dataset({seed + 3000003, n, scene}, dataset_dir),
          data::cached_caption_dataset({seed + 4000003, n, glyphs}, dataset_dir)};
}

std::vector<ProbeResult> probe_saved_vit(const SavedVitProbe& r) {
  const std::filesystem::path file = std::filesystem::is_directory(r.weights) ? r.weights / "vision.h5" : r.weights;
  QS_CHECK(r.scenes >= 16 && r.steps >= 1, "probe: needs at least 16 scenes and 1 step, got {} and {}", r.scenes, r.steps);
  e::TensorFile saved = e::load_tensor_file(file);
  auto config = saved.attributes.find("vision_config");
  auto pos = saved.tensors.find("position_embedding");
  QS_CHECK(config != saved.attributes.end() && pos != saved.tensors.end(),
           "probe: {} is not a ViT saved by pretrain_clip (no vision_config attribute or position_embedding)",
           file.string());
  YAML::Node experiment;
  experiment["pretrain_clip"]["vision"] = YAML::Load(config->second);
  vision::VitConfig vit_config = read_clip_vit_config(experiment, file.string() + " (vision_config)");
  const auto grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(pos->second.size(0) - 1))));
  QS_CHECK(grid * grid + 1 == pos->second.size(0), "probe: {}: position_embedding has {} rows, not a square grid plus the class token",
           file.string(), pos->second.size(0));
  vit_config.image_size = grid * vit_config.patch_size;
  vision::VisionTransformer vit(vit_config);
  vit.load_state_dict(saved.tensors);
  const ProbeSets sets = probe_sets(r.seed, r.scenes, vit_config.image_size, r.dataset_dir);
  vision::PreprocessConfig pre;
  pre.size = vit_config.image_size;
  return clip_probes(vit, sets, pre, r.steps);
}

}  // namespace qs::experiments
