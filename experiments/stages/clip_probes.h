#pragma once
// Linear probes on frozen ViT features, posed so that each label is a function
// of the image: shape, color and size on one-object scenes (in a scene of
// several objects "the shape of the largest" is ambiguous, as sizes take two
// values), and the object count and which shapes occur on scenes of 1-6.
#include <filesystem>
#include <string>
#include <vector>

#include "data/caption_dataset.h"
#include "vision/preprocess.h"
#include "vision/vit.h"

namespace qs::experiments {

struct ProbeResult {
  std::string name;     // e.g. "shape"
  // "patches" (mean of the selected layer's patch tokens), "class" (pooled
  // class token) or "object" (the selected layer's token of the patch holding
  // the object's centre; one-object probes only)
  std::string readout;
  double accuracy = 0, chance = 0;  // on the test half; chance = the test half's majority rate
};

// Multinomial logistic regression on features (N, D), trained on the first
// half, scored on the second.
double linear_probe(const engine::Tensor& features, const std::vector<int64_t>& labels, int64_t classes, int64_t steps);
double majority_rate(const std::vector<int64_t>& labels);
// The patch (row-major in the ViT's grid) holding the centre of the scene's
// first object, the canvas scaled onto the ViT's input.
int64_t object_patch(const data::Scene& scene, const vision::VitConfig& c);

// singles: one-object scenes; scenes: 1-6 objects. Every probe on the patch
// mean and the class token; shape, color and size also on the object's token.

// The held-out probe scenes of pretrain_clip: n one-object scenes and n of
// 1-6 objects, from seeds its training and retrieval sets do not use (seed is
// the experiment's), cached in dataset_dir like every generated dataset.
// `patterned`: one-object scenes whose object is plain, striped, spotted or
// hollow (a quarter each) - can the features tell the creatures' glyphs apart?
struct ProbeSets {
  data::CaptionDataset singles, scenes, patterned;
};
ProbeSets probe_sets(uint64_t seed, int64_t n, int64_t canvas, const std::filesystem::path& dataset_dir);
std::vector<ProbeResult> clip_probes(vision::VisionTransformer& vit, const ProbeSets& sets,
                                     const vision::PreprocessConfig& pre, int64_t steps);

// `qslaw probe`: the probes of pretrain_clip on a saved ViT (its vision.h5,
// which records the vision config; the canvas follows from the position
// embeddings), with as many probe scenes and steps as asked. With the
// stage's seed, scenes and steps it reproduces the stage's numbers.
struct SavedVitProbe {
  std::filesystem::path weights;  // vision.h5, or the pretrain_clip artifact folder holding it
  int64_t scenes = 1024, steps = 300;
  uint64_t seed = 0;
  std::filesystem::path dataset_dir = "runs/cache/datasets";
};
std::vector<ProbeResult> probe_saved_vit(const SavedVitProbe& request);

}  // namespace qs::experiments
