// Stage align: projector alignment on image-caption pairs with the `plain`
// template and the LLM frozen (fake-quantized for quantized methods); with
// scale learning the group factors alpha are learned alongside (METHOD.md).
// Outputs: projector.h5, alpha.h5 (scale learning only), results.
#include <cmath>

#include "data/caption_dataset.h"
#include "experiments/stages/multimodal.h"
#include "experiments/stages/pretrain_clip.h"
#include "interop/caption_data.h"
#include "quant/scale_learning.h"

namespace qs::experiments {

namespace {

struct AlignConfig {
  int64_t pairs = 20000;
  StageTrain train;
  // LLaVA's pretraining JSON instead of the shape world's captions, with the
  // folder its image paths are relative to (default: the JSON's folder).
  std::filesystem::path source, images;
};

AlignConfig read_config(ConfigSection& s) {
  AlignConfig c;
  c.pairs = s.get<int64_t>("pairs", c.pairs);
  QS_CHECK(c.pairs > 0, "config {}: '{}' must be positive", s.file(), s.path_of("pairs"));
  const OutsideJson outside = read_outside_json(s);
  c.source = outside.source;
  c.images = outside.images;
  c.train = read_stage_train(s.section("train"), {.steps = 300, .batch_size = 32, .log_every = 10, .lr = 1e-3});
  return c;
}

nlohmann::json run(StageContext& ctx) {
  AlignConfig c = read_config(ctx.config);
  MultimodalSetup setup = load_setup(ctx);
  RunLog& log = *ctx.log;
  data::SceneConfig scene = read_clip_scene_config(ctx.experiment, ctx.file);
  // An imported tower sees scenes drawn at its own resolution.
  if (setup.llava.imported()) scene.canvas = static_cast<int>(setup.vit.image_size);
  // The caption set of pretrain_clip when the sizes agree (the same cached file).
  data::CaptionDataset pairs =
      c.source.empty()
          ? data::cached_caption_dataset({ctx.seed, c.pairs, scene}, setup.dataset_dir)
          : interop::llava_caption_dataset(
                {.json = c.source, .images = c.images, .image_size = setup.vit.image_size, .limit = c.pairs});
  const int64_t n_pairs = static_cast<int64_t>(pairs.captions.size());
  auto model = build_llava(setup, Phase::adapt, {});
  std::vector<nn::ParamGroup> groups = adapt_groups(*model, c.train);
  const int64_t alpha_params = static_cast<int64_t>(groups[1].params.size());
  log.line(fmt::format("[align] {}: {} pairs{}, projector {} params, {} layers learn alpha", setup.method.label(), n_pairs,
                       c.source.empty() ? "" : " from " + c.source.string(),
                       model->projector().num_parameters(), alpha_params));
  EpochSampler order(n_pairs, setup.method.seed + 101);
  const int64_t image_tokens = setup.image_tokens();
  auto next = [&](int64_t step) {
    std::vector<Sample> samples;
    for (int64_t k = 0; k < c.train.batch_size; ++k) {
      const int64_t i = order.at(step * c.train.batch_size + k);
      data::Conversation conv{{{"", pairs.captions[static_cast<std::size_t>(i)]}}, true, ""};
      samples.push_back({setup.tok.conversation(conv, data::Template::plain, image_tokens, setup.llava.max_len),
                         pairs.images.select(0, i)});
    }
    return samples;
  };
  TrainStats stats = train_llava(*model, std::move(groups), c.train, next, log, "align");
  const double shift = quant::mean_alpha_shift(model->llm());
  log.line(fmt::format("[align] loss {:.4f} in {:.1f} s ({:.0f} tokens/s); mean |alpha - 1| = {:.5f}", stats.final_loss,
                       stats.seconds, stats.tokens_per_second, shift));
  save_adapted(ctx.artifacts, *model);
  return {{"loss", stats.final_loss}, {"seconds", stats.seconds}, {"tokens_per_second", stats.tokens_per_second},
          {"trainable_params", stats.trainable_params}, {"alpha_shift", shift}};
}

}  // namespace

StageDef align_stage() {
  return {"align", "projector alignment on image-caption pairs (plus scale factors for QSLAW)",
          [](ConfigSection& s) { read_config(s); }, run, {"method", "llava"}, {},
          [](const YAML::Node& n) { return outside_files_fingerprint(n, {"source"}); }};
}

}  // namespace qs::experiments
