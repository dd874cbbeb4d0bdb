// Stage pretrain_clip: contrastive image-caption pretraining of the ViT and a
// text tower on the shape world, using the pretrain_llm stage's tokenizer.
// Each image is also scored against descriptions of its scene with one shape
// changed (hard negatives). Reports zero-shot image-to-caption retrieval
// (top-1/top-5 over a held-out batch), shape binding (own caption over its
// shape-swapped one) and linear probes on frozen features (clip_probes.h),
// each next to its chance level.
// Outputs: vision.h5 (ViT weights), clip.h5 (both towers), results.
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>

#include "autograd/functions.h"
#include "data/caption_dataset.h"
#include "data/random.h"
#include "data/tokenizer.h"
#include "engine/dist/process_group.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "experiments/stage.h"
#include "experiments/stages/clip_probes.h"
#include "experiments/stages/pretrain_clip.h"
#include "nn/data_parallel.h"
#include "nn/finite.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/schedule.h"
#include "vision/clip.h"
#include "vision/preprocess.h"

namespace qs::experiments {

namespace {

namespace ag = qs::autograd;
namespace e = qs::engine;

struct ClipStageConfig {
  int64_t train_size = 20000, heldout_size = 512;
  int canvas = 64;
  double patterned = 0.0;  // share of striped/spotted/hollow objects: the creatures' glyphs
  vision::VitConfig vit;
  vision::ClipTextConfig text;
  int64_t embed_dim = 128;
  int64_t steps = 1000, batch_size = 64, log_every = 10;
  double lr = 5e-4, weight_decay = 0.1, warmup_ratio = 0.05;
  int64_t hard_negatives = 1;  // shape-swapped captions per image (0: plain CLIP)
  int64_t retrieval_batch = 256, probe_steps = 300, probe_scenes = 1024;
};

ClipStageConfig read_config(ConfigSection& s, uint64_t seed) {
  ClipStageConfig c;
  ConfigSection data = s.section("data");
  c.train_size = data.get_in<int64_t>("train", c.train_size, 2, 10000000);
  c.heldout_size = data.get_in<int64_t>("heldout", c.heldout_size, 4, 1000000);
  c.canvas = static_cast<int>(data.get_in<int64_t>("canvas", c.canvas, 8, 1024));
  c.patterned = data.get<double>("patterned", c.patterned);
  data.finish();
  QS_CHECK(c.patterned >= 0 && c.patterned <= 1, "config {}: '{}' must be in [0, 1], got {}", s.file(),
           data.path_of("patterned"), c.patterned);
  ConfigSection v = s.section("vision");
  c.vit.image_size = c.canvas;
  c.vit.patch_size = v.get_in<int64_t>("patch_size", c.vit.patch_size, 1, c.canvas);
  c.vit.width = v.get_in<int64_t>("width", c.vit.width, 1, 8192);
  c.vit.layers = v.get_in<int64_t>("layers", c.vit.layers, 1, 128);
  c.vit.heads = v.get_in<int64_t>("heads", c.vit.heads, 1, 128);
  c.vit.select_layer = v.get<int64_t>("select_layer", c.vit.select_layer);
  c.vit.seed = seed;
  v.finish();
  ConfigSection t = s.section("text");
  c.text.width = t.get_in<int64_t>("width", c.text.width, 1, 8192);
  c.text.layers = t.get_in<int64_t>("layers", c.text.layers, 1, 128);
  c.text.heads = t.get_in<int64_t>("heads", c.text.heads, 1, 128);
  c.text.max_len = t.get_in<int64_t>("max_len", c.text.max_len, 2, 4096);
  c.text.seed = seed + 1;
  t.finish();
  c.embed_dim = s.get_in<int64_t>("embed_dim", c.embed_dim, 1, 8192);
  ConfigSection tr = s.section("train");
  c.steps = tr.get_in<int64_t>("steps", c.steps, 1, 100000000);
  c.batch_size = tr.get<int64_t>("batch_size", c.batch_size);
  c.lr = tr.get<double>("lr", c.lr);
  c.weight_decay = tr.get<double>("weight_decay", c.weight_decay);
  c.warmup_ratio = tr.get<double>("warmup_ratio", c.warmup_ratio);
  c.log_every = tr.get_in<int64_t>("log_every", c.log_every, 1, 100000000);
  c.hard_negatives = tr.get<int64_t>("hard_negatives", c.hard_negatives);
  tr.finish();
  ConfigSection ev = s.section("eval");
  c.retrieval_batch = ev.get_in<int64_t>("retrieval_batch", c.retrieval_batch, 2, 65536);
  c.probe_steps = ev.get_in<int64_t>("probe_steps", c.probe_steps, 1, 1000000);
  c.probe_scenes = ev.get_in<int64_t>("probe_scenes", c.probe_scenes, 16, 1000000);
  ev.finish();
  QS_CHECK(c.hard_negatives >= 0 && c.hard_negatives <= 8, "config {}: '{}' must be in [0, 8], got {}", s.file(),
           s.path_of("train.hard_negatives"), c.hard_negatives);
  QS_CHECK(c.probe_scenes >= 16, "config {}: '{}' must be at least 16, got {}", s.file(), s.path_of("eval.probe_scenes"),
           c.probe_scenes);
  QS_CHECK(c.canvas % c.vit.patch_size == 0, "config {}: '{}' ({}) must be a multiple of '{}' ({})", s.file(),
           s.path_of("data.canvas"), c.canvas, s.path_of("vision.patch_size"), c.vit.patch_size);
  QS_CHECK(c.vit.width % c.vit.heads == 0 && c.text.width % c.text.heads == 0,
           "config {}: widths must be multiples of their head counts", s.file());
  QS_CHECK(c.batch_size > 1 && c.batch_size <= c.train_size, "config {}: '{}' must be in [2, {}]", s.file(),
           s.path_of("train.batch_size"), c.train_size);
  QS_CHECK(c.retrieval_batch > 1 && c.retrieval_batch <= c.heldout_size && c.heldout_size >= 4,
           "config {}: '{}' must be in [2, data.heldout = {}]", s.file(), s.path_of("eval.retrieval_batch"),
           c.heldout_size);
  return c;
}

// Token ids (B, T) padded with <pad>, each caption ending in </s>; last = index of </s>.
std::pair<e::Tensor, e::Tensor> tokenize(const data::Tokenizer& tok, const std::vector<std::string>& captions,
                                         int64_t max_len) {
  const int64_t b = static_cast<int64_t>(captions.size());
  e::Tensor ids = e::full({b, max_len}, static_cast<double>(data::Tokenizer::kPad), e::DType::i64);
  e::Tensor last({b}, e::DType::i64);
  for (int64_t i = 0; i < b; ++i) {
    std::vector<int64_t> t = tok.encode(captions[static_cast<std::size_t>(i)]);
    if (static_cast<int64_t>(t.size()) > max_len - 1) t.resize(static_cast<std::size_t>(max_len - 1));
    t.push_back(data::Tokenizer::kEos);
    std::copy(t.begin(), t.end(), ids.data<int64_t>() + i * max_len);
    last.data<int64_t>()[i] = static_cast<int64_t>(t.size()) - 1;
  }
  return {ids, last};
}

nlohmann::json run(StageContext& ctx) {
  ClipStageConfig c = read_config(ctx.config, ctx.seed);
  RunLog& log = *ctx.log;
  QS_CHECK(ctx.upstream.count("pretrain_llm"), "[pretrain_clip] needs the pretrain_llm stage (its tokenizer) before it");
  data::Tokenizer tok = data::Tokenizer::load(ctx.upstream.at("pretrain_llm") / "tokenizer.json");
  c.text.vocab_size = tok.vocab_size();
  const auto dataset_dir = ctx.artifacts.parent_path().parent_path() / "datasets";
  data::SceneConfig scene;
  scene.canvas = c.canvas;
  scene.patterned = c.patterned;
  data::CaptionDataset train = data::cached_caption_dataset({ctx.seed, c.train_size, scene}, dataset_dir);
  data::CaptionDataset held = data::cached_caption_dataset({ctx.seed + 1000003, c.heldout_size, scene}, dataset_dir);
  log.line(fmt::format("[{}] {} training and {} held-out scenes (cached in {})", ctx.stage, c.train_size,
                       c.heldout_size, dataset_dir.string()));

  vision::ClipModel model(c.vit, c.text, c.embed_dim);
  log.line(fmt::format("[{}] CLIP: {} parameters (ViT {})", ctx.stage, model.num_parameters(),
                       model.vision().num_parameters()));
  nn::ParamGroup decay{"decay", {}, c.lr, c.weight_decay}, no_decay{"no_decay", {}, c.lr, 0.0};
  for (auto& [name, p] : model.named_parameters()) (p.dim() >= 2 ? decay : no_decay).params.emplace_back(name, p);
  // Several processes: each embeds its share of the batch's images and
  // captions; the loss runs on every rank over the gathered embeddings
  // (nn::all_gather_rows), so it contrasts the whole global batch.
  e::dist::ProcessGroup& group = e::dist::world();
  QS_CHECK(c.batch_size % group.size() == 0, "[{}] train.batch_size {} must divide evenly among {} processes",
           ctx.stage, c.batch_size, group.size());
  const e::dist::Share share = e::dist::share_of(c.batch_size, group.rank(), group.size());
  std::vector<ag::Var> trainable;
  for (const ag::Var& p : model.parameters()) trainable.push_back(p);
  nn::GradientSync sync(trainable, group);
  sync.broadcast_parameters();
  nn::AdamW opt({decay, no_decay}, 0.9, 0.98, 1e-6);
  nn::LrSchedule schedule{nn::LrSchedule::Kind::warmup_cosine, c.steps, c.warmup_ratio, 0.0};
  vision::PreprocessConfig pre;
  pre.size = c.canvas;
  const int64_t per_epoch = c.train_size / c.batch_size;
  std::vector<int64_t> order(static_cast<std::size_t>(c.train_size));
  const auto start = std::chrono::steady_clock::now();
  double loss_value = 0.0;
  for (int64_t step = 0; step < c.steps; ++step) {
    if (step % per_epoch == 0) {  // a fresh shuffle each epoch, from the seed
      std::iota(order.begin(), order.end(), 0);
      data::Rng rng(ctx.seed * 31 + static_cast<uint64_t>(step / per_epoch));
      for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[static_cast<std::size_t>(rng.below(static_cast<int64_t>(i) + 1))]);
    }
    const auto batch_begin = order.begin() + (step % per_epoch) * c.batch_size;
    std::vector<int64_t> rows(batch_begin + share.begin, batch_begin + share.end);  // this rank's share
    e::Tensor images = vision::normalize_batch(e::index_select(train.images, 0, e::from_vector(rows)), pre);
    // The batch's captions, then for each image `hard_negatives` descriptions
    // of its scene with one shape changed: false of the image only by shape.
    std::vector<std::string> captions;
    for (int64_t r : rows) captions.push_back(train.captions[static_cast<std::size_t>(r)]);
    for (int64_t k = 0; k < c.hard_negatives; ++k) {
      for (int64_t r : rows) {
        data::Rng rng = data::Rng(ctx.seed * 7 + 5).fork(static_cast<uint64_t>((step * c.hard_negatives + k) * c.train_size + r));
        captions.push_back(data::describe_scene(data::with_shape_swapped(train.scenes[static_cast<std::size_t>(r)], rng), rng));
      }
    }
    auto [ids, last] = tokenize(tok, captions, c.text.max_len);
    opt.set_lr_scale(schedule.factor(step));
    ag::Var loss;
    if (group.size() == 1) {
      loss = model.loss(ag::Var(images), ids, last);
    } else {
      // Captions come per rank as [its rows' captions, then its rows'
      // negatives for each k]; gathered rank by rank, they are put back in
      // the global order [all captions, all negatives k = 0, ...].
      const int64_t n = share.size(), blocks = 1 + c.hard_negatives;
      std::vector<int64_t> global_order;
      for (int64_t j = 0; j < blocks; ++j) {
        for (int64_t r = 0; r < group.size(); ++r) {
          for (int64_t i = 0; i < n; ++i) global_order.push_back(r * n * blocks + j * n + i);
        }
      }
      loss = vision::clip_loss(nn::all_gather_rows(model.image_embeds(ag::Var(images)), group),
                               ag::index_select(nn::all_gather_rows(model.text_embeds(ids, last), group), 0,
                                                e::from_vector(global_order)),
                               model.parameter("logit_scale"));
    }
    loss_value = loss.data().item<double>();
    QS_CHECK(std::isfinite(loss_value), "[{}] loss is {} at step {}", ctx.stage, loss_value, step);
    opt.zero_grad();
    sync.backward(loss);
    sync.finish();
    nn::clip_grad_norm(model.parameters(), 1.0);
    opt.step();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double ips = static_cast<double>((step + 1) * c.batch_size) / std::max(secs, 1e-9);
    log.progress(ctx.stage, step + 1, c.steps, loss_value, ips, secs);
    if ((step + 1) % c.log_every == 0 || step + 1 == c.steps) {
      log.metrics({{"stage", ctx.stage}, {"step", step + 1}, {"loss", loss_value}, {"images_per_second", ips},
                   {"lr", c.lr * schedule.factor(step)}, {"elapsed_seconds", secs}});
    }
  }
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::map<std::string, e::Tensor> state = opt.state_dict();
  for (const auto& [k, t] : model.state_dict()) state["model." + k] = t;
  nn::check_finite(state, fmt::format("[{}] after step {}", ctx.stage, c.steps));

  // Zero-shot retrieval: each held-out image against the captions of the batch.
  model.eval();
  std::optional<ag::NoGrad> no_grad(std::in_place);  // evaluation records no graph; the probes below train
  e::Tensor images = vision::normalize_batch(held.images.slice(0, 0, c.retrieval_batch), pre);
  auto [ids, last] = tokenize(tok, std::vector<std::string>(held.captions.begin(), held.captions.begin() + c.retrieval_batch),
                              c.text.max_len);
  e::Tensor ie = vision::l2_normalize(model.image_embeds(ag::Var(images))).data();
  e::Tensor te = vision::l2_normalize(model.text_embeds(ids, last)).data();
  e::Tensor sim = e::matmul(ie, te.t());
  int64_t top1 = 0, top5 = 0;
  for (int64_t i = 0; i < c.retrieval_batch; ++i) {
    std::vector<float> row = e::to_vector<float>(sim.select(0, i));
    std::vector<int64_t> idx(row.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + 5, idx.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
    // Identical captions of different scenes count as correct.
    auto same = [&](int64_t j) { return held.captions[static_cast<std::size_t>(j)] == held.captions[static_cast<std::size_t>(i)]; };
    top1 += same(idx[0]);
    bool any = false;
    for (int k = 0; k < 5; ++k) any = any || same(idx[k]);
    top5 += any;
  }
  // Shape binding: does each held-out image prefer its caption to the same
  // caption of its scene with one shape changed? (chance 0.5)
  std::vector<std::string> swapped;
  for (int64_t i = 0; i < c.retrieval_batch; ++i) {
    data::Rng rng = data::Rng(ctx.seed * 7 + 6).fork(static_cast<uint64_t>(i));
    swapped.push_back(data::describe_scene(data::with_shape_swapped(held.scenes[static_cast<std::size_t>(i)], rng), rng));
  }
  auto [swapped_ids, swapped_last] = tokenize(tok, swapped, c.text.max_len);
  e::Tensor se = vision::l2_normalize(model.text_embeds(swapped_ids, swapped_last)).data();
  e::Tensor prefers = e::gt(e::sum(ie * te, 1), e::sum(ie * se, 1));
  const double shape_binding = e::mean(prefers.to(e::DType::f64)).item<double>();
  no_grad.reset();
  // Linear probes on frozen features of held-out probe scenes: one-object
  // scenes (shape, color, size) and scenes of 1-6 objects (count, shapes present).
  const ProbeSets sets = probe_sets(ctx.seed, c.probe_scenes, c.canvas, dataset_dir);
  const std::vector<ProbeResult> probes = clip_probes(model.vision(), sets, pre, c.probe_steps);
  const double n = static_cast<double>(c.retrieval_batch);
  nlohmann::json results{
      {"parameters", model.num_parameters()},
      {"vit_parameters", model.vision().num_parameters()},
      {"final_loss", loss_value},
      {"train_seconds", train_seconds},
      {"retrieval_top1", top1 / n},
      {"retrieval_top5", top5 / n},
      {"retrieval_chance_top1", 1.0 / n},
      {"retrieval_chance_top5", 5.0 / n},
      {"shape_binding", shape_binding},
      {"shape_binding_chance", 0.5}};
  // Keys: probe_<name> (mean of the selected layer's patch tokens),
  // probe_<name>_class (pooled class token), probe_<name>_object (the token of
  // the object's own patch), probe_<name>_chance.
  for (const ProbeResult& p : probes) {
    const std::string key = "probe_" + p.name + (p.readout == "patches" ? "" : "_" + p.readout);
    results[key] = p.accuracy;
    results["probe_" + p.name + "_chance"] = p.chance;
  }
  log.line(fmt::format("[{}] retrieval over {}: top-1 {:.3f} (chance {:.4f}), top-5 {:.3f} (chance {:.4f})", ctx.stage,
                       c.retrieval_batch, top1 / n, 1 / n, top5 / n, 5 / n));
  log.line(fmt::format("[{}] shape binding (own caption over the one-shape-swapped caption): {:.3f} (chance 0.5)",
                       ctx.stage, shape_binding));
  for (const std::string readout : {"patches", "class", "object"}) {
    const std::string what = readout == "patches" ? fmt::format("layer {} patch features (mean)", c.vit.select_layer)
                             : readout == "class" ? std::string("the pooled class token")
                                                  : fmt::format("the layer {} token of the object's own patch", c.vit.select_layer);
    std::string line = fmt::format("[{}] probes on {}:", ctx.stage, what);
    for (const ProbeResult& p : probes) {
      if (p.readout == readout) line += fmt::format(" {} {:.3f} (majority {:.3f})", p.name, p.accuracy, p.chance);
    }
    log.line(line);
  }
  e::TensorFile vit_file;
  for (auto& [k, t] : model.vision().state_dict()) vit_file.tensors[k] = t;
  vit_file.attributes["vision_config"] = to_yaml(ctx.config.node()["vision"] ? ctx.config.node()["vision"] : YAML::Node());
  e::save_tensor_file(ctx.artifacts / "vision.h5", vit_file);
  e::TensorFile all;
  all.tensors = model.state_dict();
  e::save_tensor_file(ctx.artifacts / "clip.h5", all);
  return results;
}

}  // namespace

vision::VitConfig read_clip_vit_config(const YAML::Node& experiment, const std::string& file) {
  ConfigSection s(experiment["pretrain_clip"] ? experiment["pretrain_clip"] : YAML::Node(YAML::NodeType::Map),
                  "pretrain_clip", file);
  return read_config(s, 0).vit;
}

data::SceneConfig read_clip_scene_config(const YAML::Node& experiment, const std::string& file) {
  ConfigSection s(experiment["pretrain_clip"] ? experiment["pretrain_clip"] : YAML::Node(YAML::NodeType::Map),
                  "pretrain_clip", file);
  const ClipStageConfig c = read_config(s, 0);
  data::SceneConfig scene;
  scene.canvas = c.canvas;
  scene.patterned = c.patterned;
  return scene;
}

StageDef pretrain_clip_stage() {
  return {"pretrain_clip", "contrastive image-caption pretraining of the ViT",
          [](ConfigSection& s) { read_config(s, 0); }, run, {}, {{"pretrain_llm", {"corpus", "tokenizer"}}}};
}

}  // namespace qs::experiments
