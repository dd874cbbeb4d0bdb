// Stage pretrain_clip: contrastive image-caption pretraining of the ViT and a
// text tower on the shape world, using the pretrain_llm stage's tokenizer.
// Reports zero-shot image-to-caption retrieval (top-1/top-5 over a held-out
// batch) and linear probes on frozen layer -2 features (count, and color and
// shape of the largest object), each next to its chance level.
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
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "experiments/stage.h"
#include "experiments/stages/pretrain_clip.h"
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
  vision::VitConfig vit;
  vision::ClipTextConfig text;
  int64_t embed_dim = 128;
  int64_t steps = 1000, batch_size = 64, log_every = 10;
  double lr = 5e-4, weight_decay = 0.1, warmup_ratio = 0.05;
  int64_t retrieval_batch = 256, probe_steps = 300;
};

ClipStageConfig read_config(ConfigSection& s, uint64_t seed) {
  ClipStageConfig c;
  ConfigSection data = s.section("data");
  c.train_size = data.get<int64_t>("train", c.train_size);
  c.heldout_size = data.get<int64_t>("heldout", c.heldout_size);
  c.canvas = static_cast<int>(data.get<int64_t>("canvas", c.canvas));
  data.finish();
  ConfigSection v = s.section("vision");
  c.vit.image_size = c.canvas;
  c.vit.patch_size = v.get<int64_t>("patch_size", c.vit.patch_size);
  c.vit.width = v.get<int64_t>("width", c.vit.width);
  c.vit.layers = v.get<int64_t>("layers", c.vit.layers);
  c.vit.heads = v.get<int64_t>("heads", c.vit.heads);
  c.vit.select_layer = v.get<int64_t>("select_layer", c.vit.select_layer);
  c.vit.seed = seed;
  v.finish();
  ConfigSection t = s.section("text");
  c.text.width = t.get<int64_t>("width", c.text.width);
  c.text.layers = t.get<int64_t>("layers", c.text.layers);
  c.text.heads = t.get<int64_t>("heads", c.text.heads);
  c.text.max_len = t.get<int64_t>("max_len", c.text.max_len);
  c.text.seed = seed + 1;
  t.finish();
  c.embed_dim = s.get<int64_t>("embed_dim", c.embed_dim);
  ConfigSection tr = s.section("train");
  c.steps = tr.get<int64_t>("steps", c.steps);
  c.batch_size = tr.get<int64_t>("batch_size", c.batch_size);
  c.lr = tr.get<double>("lr", c.lr);
  c.weight_decay = tr.get<double>("weight_decay", c.weight_decay);
  c.warmup_ratio = tr.get<double>("warmup_ratio", c.warmup_ratio);
  c.log_every = tr.get<int64_t>("log_every", c.log_every);
  tr.finish();
  ConfigSection ev = s.section("eval");
  c.retrieval_batch = ev.get<int64_t>("retrieval_batch", c.retrieval_batch);
  c.probe_steps = ev.get<int64_t>("probe_steps", c.probe_steps);
  ev.finish();
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
                                         const std::vector<int64_t>& rows, int64_t max_len) {
  const int64_t b = static_cast<int64_t>(rows.size());
  e::Tensor ids = e::full({b, max_len}, static_cast<double>(data::Tokenizer::kPad), e::DType::i64);
  e::Tensor last({b}, e::DType::i64);
  for (int64_t i = 0; i < b; ++i) {
    std::vector<int64_t> t = tok.encode(captions[static_cast<std::size_t>(rows[i])]);
    if (static_cast<int64_t>(t.size()) > max_len - 1) t.resize(static_cast<std::size_t>(max_len - 1));
    t.push_back(data::Tokenizer::kEos);
    std::copy(t.begin(), t.end(), ids.data<int64_t>() + i * max_len);
    last.data<int64_t>()[i] = static_cast<int64_t>(t.size()) - 1;
  }
  return {ids, last};
}

// Multinomial logistic regression on frozen features; accuracy on the test half.
double linear_probe(const e::Tensor& feats, const std::vector<int64_t>& labels, int64_t classes, int64_t steps) {
  const int64_t n = feats.size(0), half = n / 2, d = feats.size(1);
  e::Tensor mu = e::mean(feats.slice(0, 0, half), 0, true);
  e::Tensor sd = e::sqrt(e::var(feats.slice(0, 0, half), 0, 1, true) + 1e-6);
  e::Tensor x = (feats - mu) / sd;
  e::Tensor y = e::from_vector(labels);
  ag::Var w(e::zeros({d, classes}), true), b(e::zeros({classes}), true);
  nn::AdamW opt({nn::ParamGroup{"probe", {{"w", w}, {"b", b}}, 1e-2, 1e-3}});
  for (int64_t s = 0; s < steps; ++s) {
    ag::Var loss = ag::cross_entropy(ag::matmul(ag::Var(x.slice(0, 0, half)), w) + b, y.slice(0, 0, half).contiguous());
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  ag::NoGrad no_grad;
  e::Tensor pred = e::argmax(e::matmul(x.slice(0, half, n), w.data()) + b.data(), 1);
  return e::mean(e::eq(pred, y.slice(0, half, n)).to(e::DType::f64)).item<double>();
}

double majority_rate(const std::vector<int64_t>& labels) {
  const std::size_t half = labels.size() / 2;
  std::map<int64_t, int64_t> counts;
  for (std::size_t i = half; i < labels.size(); ++i) ++counts[labels[i]];
  int64_t best = 0;
  for (auto& [k, v] : counts) best = std::max(best, v);
  return static_cast<double>(best) / static_cast<double>(labels.size() - half);
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
  data::CaptionDataset train = data::cached_caption_dataset({ctx.seed, c.train_size, scene}, dataset_dir);
  data::CaptionDataset held = data::cached_caption_dataset({ctx.seed + 1000003, c.heldout_size, scene}, dataset_dir);
  log.line(fmt::format("[{}] {} training and {} held-out scenes (cached in {})", ctx.stage, c.train_size,
                       c.heldout_size, dataset_dir.string()));

  vision::ClipModel model(c.vit, c.text, c.embed_dim);
  log.line(fmt::format("[{}] CLIP: {} parameters (ViT {})", ctx.stage, model.num_parameters(),
                       model.vision().num_parameters()));
  nn::ParamGroup decay{"decay", {}, c.lr, c.weight_decay}, no_decay{"no_decay", {}, c.lr, 0.0};
  for (auto& [name, p] : model.named_parameters()) (p.dim() >= 2 ? decay : no_decay).params.emplace_back(name, p);
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
    std::vector<int64_t> rows(order.begin() + (step % per_epoch) * c.batch_size,
                              order.begin() + (step % per_epoch + 1) * c.batch_size);
    e::Tensor images = vision::normalize_batch(e::index_select(train.images, 0, e::from_vector(rows)), pre);
    auto [ids, last] = tokenize(tok, train.captions, rows, c.text.max_len);
    opt.set_lr_scale(schedule.factor(step));
    ag::Var loss = model.loss(ag::Var(images), ids, last);
    loss_value = loss.data().item<double>();
    QS_CHECK(std::isfinite(loss_value), "[{}] loss is {} at step {}", ctx.stage, loss_value, step);
    opt.zero_grad();
    loss.backward();
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

  // Zero-shot retrieval: each held-out image against the captions of the batch.
  model.eval();
  std::optional<ag::NoGrad> no_grad(std::in_place);  // evaluation records no graph; the probes below train
  std::vector<int64_t> rows(static_cast<std::size_t>(c.retrieval_batch));
  std::iota(rows.begin(), rows.end(), 0);
  e::Tensor images = vision::normalize_batch(held.images.slice(0, 0, c.retrieval_batch), pre);
  auto [ids, last] = tokenize(tok, held.captions, rows, c.text.max_len);
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
  // Linear probes on frozen layer -2 features (mean over patches).
  std::vector<int64_t> count, color, shape;
  for (const data::Scene& s : held.scenes) {
    const data::Object* largest = &s.objects[0];
    for (const data::Object& o : s.objects) {
      if (o.radius > largest->radius) largest = &o;
    }
    count.push_back(static_cast<int64_t>(s.objects.size()) - 1);
    color.push_back(static_cast<int64_t>(largest->color));
    shape.push_back(static_cast<int64_t>(largest->shape));
  }
  // Two readouts: the mean of the layer -2 patch features (what LLaVA's
  // projector sees, pooled) and the pooled class token CLIP trains.
  std::vector<e::Tensor> chunks, pooled_chunks;
  for (int64_t s = 0; s < c.heldout_size; s += 64) {
    e::Tensor batch = vision::normalize_batch(held.images.slice(0, s, std::min(c.heldout_size, s + 64)), pre);
    chunks.push_back(e::mean(model.vision().features(ag::Var(batch)).data(), 1));
    pooled_chunks.push_back(model.vision().pooled(ag::Var(batch)).data());
  }
  e::Tensor feats = e::concat(chunks, 0), pooled = e::concat(pooled_chunks, 0);
  no_grad.reset();
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
      {"probe_count", linear_probe(feats, count, 6, c.probe_steps)},
      {"probe_count_chance", majority_rate(count)},
      {"probe_color", linear_probe(feats, color, 6, c.probe_steps)},
      {"probe_color_chance", majority_rate(color)},
      {"probe_shape", linear_probe(feats, shape, 5, c.probe_steps)},
      {"probe_shape_chance", majority_rate(shape)},
      {"probe_count_pooled", linear_probe(pooled, count, 6, c.probe_steps)},
      {"probe_color_pooled", linear_probe(pooled, color, 6, c.probe_steps)},
      {"probe_shape_pooled", linear_probe(pooled, shape, 5, c.probe_steps)}};
  log.line(fmt::format("[{}] retrieval over {}: top-1 {:.3f} (chance {:.4f}), top-5 {:.3f} (chance {:.4f})", ctx.stage,
                       c.retrieval_batch, top1 / n, 1 / n, top5 / n, 5 / n));
  log.line(fmt::format("[{}] probes on layer {} features: count {:.3f} (majority {:.3f}), color {:.3f} ({:.3f}), shape {:.3f} ({:.3f})",
                       ctx.stage, c.vit.select_layer, results["probe_count"].get<double>(), results["probe_count_chance"].get<double>(),
                       results["probe_color"].get<double>(), results["probe_color_chance"].get<double>(),
                       results["probe_shape"].get<double>(), results["probe_shape_chance"].get<double>()));
  log.line(fmt::format("[{}] probes on the pooled class token: count {:.3f}, color {:.3f}, shape {:.3f}", ctx.stage,
                       results["probe_count_pooled"].get<double>(), results["probe_color_pooled"].get<double>(),
                       results["probe_shape_pooled"].get<double>()));
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

StageDef pretrain_clip_stage() {
  return {"pretrain_clip", "contrastive image-caption pretraining of the ViT",
          [](ConfigSection& s) { read_config(s, 0); }, run};
}

}  // namespace qs::experiments
