#include "experiments/stages/multimodal.h"

#include <chrono>
#include <cmath>

#include "autograd/functions.h"
#include "data/random.h"
#include "engine/backend.h"
#include "engine/cpu/host_allocator.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "experiments/stages/pretrain_clip.h"
#include "experiments/stages/memory_estimate.h"
#include "nn/finite.h"
#include "nn/optim/schedule.h"
#include "quant/quant_linear.h"
#include "quant/scale_learning.h"
#include "quant/surgery.h"
#include "vision/preprocess.h"

namespace qs::experiments {

namespace ag = qs::autograd;
namespace e = qs::engine;

std::string MethodConfig::label() const {
  return fmt::format("{} ({} {}{}{})", preset, weights, tuning, scale_learning ? " +scales" : "", warmup ? " +warmup" : "");
}

MethodConfig read_method_config(ConfigSection& s) {
  MethodConfig c;
  c.preset = s.get<std::string>("preset", c.preset);
  if (c.preset == "full") {
    c.weights = "fp", c.tuning = "full", c.scale_learning = false, c.warmup = false;
  } else if (c.preset == "lora") {
    c.weights = "fp", c.scale_learning = false, c.warmup = false;
  } else if (c.preset == "qlora") {
    c.weights = "nf4", c.scale_learning = false, c.warmup = false;
  } else if (c.preset == "lwc_lora") {
    c.weights = "lwc", c.scale_learning = false, c.warmup = false;
  } else if (c.preset != "qslaw") {
    fail("config {}: '{}' is '{}' (expected full, lora, qlora, lwc_lora or qslaw)", s.file(), s.path_of("preset"),
         c.preset);
  }
  c.weights = s.get<std::string>("weights", c.weights);
  QS_CHECK(c.weights == "fp" || c.weights == "minmax" || c.weights == "nf4" || c.weights == "lwc",
           "config {}: '{}' is '{}' (expected fp, minmax, nf4 or lwc)", s.file(), s.path_of("weights"), c.weights);
  c.tuning = s.get<std::string>("tuning", c.tuning);
  QS_CHECK(c.tuning == "full" || c.tuning == "lora", "config {}: '{}' is '{}' (expected full or lora)", s.file(),
           s.path_of("tuning"), c.tuning);
  QS_CHECK(c.tuning == "lora" || c.weights == "fp",
           "config {}: full fine-tuning needs full-precision weights ('{}' is {}): quantized weights are frozen",
           s.file(), s.path_of("weights"), c.weights);
  c.bits = s.get<int64_t>("bits", c.bits);
  QS_CHECK(c.bits == 2 || c.bits == 3 || c.bits == 4 || c.bits == 8, "config {}: '{}' must be 2, 3, 4 or 8, got {}",
           s.file(), s.path_of("bits"), c.bits);
  c.group_size = s.get<int64_t>("group_size", c.group_size);
  QS_CHECK(c.group_size > 0, "config {}: '{}' must be positive", s.file(), s.path_of("group_size"));
  c.layers = s.get<std::string>("layers", c.layers);
  quant::path_pattern(c.layers);
  c.scale_learning = s.get<bool>("scale_learning", c.scale_learning);
  QS_CHECK(!c.scale_learning || c.uniform_quant(),
           "config {}: scale learning needs uniform quantized weights (weights: minmax or lwc), got {}", s.file(),
           c.weights);
  c.start_layer = s.get<int64_t>("start_layer", c.start_layer);
  QS_CHECK(c.start_layer >= -1, "config {}: '{}' must be >= -1", s.file(), s.path_of("start_layer"));
  c.warmup = s.get<bool>("warmup", c.warmup);
  ConfigSection lora = s.section("lora");
  c.lora.rank = lora.get<int64_t>("rank", c.lora.rank);
  c.lora.alpha = lora.get<double>("alpha", c.lora.alpha);
  c.lora.dropout = lora.get<double>("dropout", c.lora.dropout);
  lora.finish();
  QS_CHECK(c.lora.rank > 0 && c.lora.dropout >= 0 && c.lora.dropout < 1,
           "config {}: '{}' needs rank > 0 and dropout in [0, 1)", s.file(), s.path_of("lora"));
  c.nf4_block = s.get<int64_t>("nf4_block", c.nf4_block);
  c.nf4_double_quant = s.get<bool>("nf4_double_quant", c.nf4_double_quant);
  c.seed = s.get<uint64_t>("seed", c.seed);
  c.lora.seed = c.seed;
  return c;
}

LlavaSettings read_llava_settings(ConfigSection& s) {
  LlavaSettings c;
  c.projector = s.get<std::string>("projector", c.projector);
  QS_CHECK(c.projector == "linear" || c.projector == "mlp2x_gelu", "config {}: '{}' is '{}' (expected linear or mlp2x_gelu)",
           s.file(), s.path_of("projector"), c.projector);
  c.max_len = s.get<int64_t>("max_len", c.max_len);
  c.system_prompt = s.get<std::string>("system_prompt", c.system_prompt);
  c.answer_format = data::parse_answer_format(s.get<std::string>("answer_format", "letter"));
  const std::string target = s.get<std::string>("target", "answer");
  QS_CHECK(target == "answer" || target == "lea", "config {}: '{}' is '{}' (expected answer or lea)", s.file(),
           s.path_of("target"), target);
  c.target = data::parse_answer_target(target);
  QS_CHECK(c.max_len > 8, "config {}: '{}' must be > 8", s.file(), s.path_of("max_len"));
  c.device = s.get<std::string>("device", c.device);
  try {
    e::parse_device(c.device);
  } catch (const qs::Error& err) {
    fail("config {}: '{}': {}", s.file(), s.path_of("device"), err.what());
  }
  return c;
}

data::SqaConfig read_sqa_config(ConfigSection& s) {
  data::SqaConfig c;
  c.train = s.get<int64_t>("train", c.train);
  c.val = s.get<int64_t>("val", c.val);
  c.test = s.get<int64_t>("test", c.test);
  ConfigSection sub = s.section("subjects");
  c.nat = sub.get<double>("NAT", c.nat);
  c.soc = sub.get<double>("SOC", c.soc);
  c.lan = sub.get<double>("LAN", c.lan);
  sub.finish();
  ConfigSection ctx = s.section("contexts");
  c.img = ctx.get<double>("IMG", c.img);
  c.txt = ctx.get<double>("TXT", c.txt);
  c.no = ctx.get<double>("NO", c.no);
  ctx.finish();
  c.hard = s.get<double>("hard_share", c.hard);
  c.max_choices = s.get<int64_t>("max_choices", c.max_choices);
  c.creatures = s.get<double>("creatures", c.creatures);
  QS_CHECK(c.creatures >= 0 && c.creatures <= 1, "config {}: '{}' must be in [0, 1], got {}", s.file(),
           s.path_of("creatures"), c.creatures);
  QS_CHECK(c.train > 0 && c.val >= 0 && c.test > 0, "config {}: '{}' needs train > 0, val >= 0, test > 0", s.file(),
           s.path_of(""));
  QS_CHECK(c.max_choices >= 2 && c.max_choices <= 5, "config {}: '{}' must be in 2..5", s.file(), s.path_of("max_choices"));
  return c;
}

StageTrain read_stage_train(ConfigSection s, StageTrain c) {
  c.steps = s.get_in<int64_t>("steps", c.steps, 0, 100000000);
  c.batch_size = s.get_in<int64_t>("batch_size", c.batch_size, 1, 4096);
  c.log_every = s.get_in<int64_t>("log_every", c.log_every, 1, 100000000);
  c.lr = s.get<double>("lr", c.lr);
  c.projector_lr = s.get<double>("projector_lr", c.projector_lr);
  c.warmup_ratio = s.get<double>("warmup_ratio", c.warmup_ratio);
  c.min_lr_ratio = s.get<double>("min_lr_ratio", c.min_lr_ratio);
  c.weight_decay = s.get<double>("weight_decay", c.weight_decay);
  c.grad_clip = s.get<double>("grad_clip", c.grad_clip);
  s.finish();
  QS_CHECK(c.steps >= 0 && c.batch_size > 0 && c.log_every > 0 && c.lr > 0,
           "config {}: '{}' needs steps >= 0, batch_size > 0, log_every > 0, lr > 0", s.file(), s.path_of(""));
  if (c.projector_lr < 0) c.projector_lr = c.lr;
  return c;
}

namespace {

ConfigSection shared_section(const StageContext& ctx, const std::string& name) {
  const YAML::Node node = ctx.experiment[name] ? ctx.experiment[name] : YAML::Node(YAML::NodeType::Map);
  return ConfigSection(node, name, ctx.file);
}

std::map<std::string, e::Tensor> load_weights(const std::filesystem::path& path) {
  return e::load_tensor_file(path).tensors;
}

}  // namespace

MultimodalSetup load_setup(StageContext& ctx) {
  MultimodalSetup s;
  for (const char* need : {"pretrain_llm", "pretrain_clip"}) {
    QS_CHECK(ctx.upstream.count(need), "[{}] needs the {} stage before it in 'stages'", ctx.stage, need);
  }
  ConfigSection pre = shared_section(ctx, "pretrain_llm");
  s.pre = read_pretrain_config(pre, ctx.seed);
  const auto& llm_dir = ctx.upstream.at("pretrain_llm");
  s.tok = data::Tokenizer::load(llm_dir / "tokenizer.json");
  s.pre.model.vocab_size = s.tok.vocab_size();
  s.llm_weights = load_weights(llm_dir / "model.h5");
  s.vit = read_clip_vit_config(ctx.experiment, ctx.file);
  s.vit_weights = load_weights(ctx.upstream.at("pretrain_clip") / "vision.h5");
  ConfigSection method = shared_section(ctx, "method");
  s.method = read_method_config(method);
  ConfigSection llava = shared_section(ctx, "llava");
  s.llava = read_llava_settings(llava);
  QS_CHECK(s.llava.max_len <= s.pre.model.max_seq_len, "config {}: llava.max_len {} exceeds the LLM's max_seq_len {}",
           ctx.file, s.llava.max_len, s.pre.model.max_seq_len);
  ConfigSection sqa = shared_section(ctx, "sqa");
  s.sqa = read_sqa_config(sqa);
  s.sqa.seed = ctx.seed;
  s.sqa.scene.canvas = static_cast<int>(s.vit.image_size);
  // Questions about the creatures the LLM read about in pretraining.
  s.sqa.entities = s.pre.corpus.entities;
  s.sqa.entities.seed = s.pre.corpus.seed;
  if (s.method.weights == "lwc") {
    QS_CHECK(ctx.upstream.count("calibrate"), "[{}] method.weights lwc needs the calibrate stage before it", ctx.stage);
    s.lwc_weights = ctx.upstream.at("calibrate") / fmt::format("lwc_{}b_g{}.h5", s.method.bits, s.method.group_size);
    QS_CHECK(std::filesystem::exists(s.lwc_weights),
             "[{}] no LWC calibration for {} bits, group {}: {} is missing (add them to calibrate.bits / "
             "calibrate.group_sizes and 'lwc' to calibrate.methods)",
             ctx.stage, s.method.bits, s.method.group_size, s.lwc_weights.string());
  }
  s.dataset_dir = ctx.artifacts.parent_path().parent_path() / "datasets";
  return s;
}

data::SqaDataset load_sqa_data(const MultimodalSetup& setup) { return data::cached_sqa(setup.sqa, setup.dataset_dir); }

std::shared_ptr<nn::Llava> build_llava(const MultimodalSetup& s, Phase phase, const std::filesystem::path& adapted) {
  const MethodConfig& m = s.method;
  auto llm = std::make_shared<nn::Llama>(s.pre.model);
  llm->load_state_dict(s.llm_weights);
  auto vit = std::make_shared<vision::VisionTransformer>(s.vit);
  vit->load_state_dict(s.vit_weights);
  nn::ProjectorConfig pc{s.llava.projector, s.vit.width, s.pre.model.dim, 0.02, m.seed + 11};
  auto model = std::make_shared<nn::Llava>(vit, pc, llm);
  model->image_token_id = data::Tokenizer::kImage;

  const quant::PathFilter select = quant::path_pattern(m.layers);
  if (m.uniform_quant()) {
    const quant::QuantSpec spec{static_cast<int>(m.bits), m.group_size, false};
    quant::quantize_linears(*llm, spec, select);
    std::map<std::string, e::Tensor> grid;
    if (m.weights == "lwc") grid = load_weights(s.lwc_weights);
    quant::for_each_quant(*llm, [&](const std::string& path, quant::QuantLinear& q) {
      if (m.weights == "lwc") {
        QS_CHECK(grid.count(path + ".scale") && grid.count(path + ".zero"),
                 "{}: no calibrated grid for layer '{}' (calibrate.layers must cover method.layers)",
                 s.lwc_weights.string(), path);
        q.set_grid({grid.at(path + ".scale"), grid.at(path + ".zero")});
      } else {
        q.freeze_grid();
      }
    });
    if (m.scale_learning) quant::enable_scale_learning(*llm, m.start_layer);
  } else if (m.weights == "nf4") {
    quant::nf4_linears(*llm, m.nf4_block, m.nf4_double_quant, select);
  }
  if (!adapted.empty()) {
    auto projector = load_weights(adapted / "projector.h5");
    model->projector().load_state_dict(projector);
    if (std::filesystem::exists(adapted / "alpha.h5")) {
      quant::load_alpha(*llm, load_weights(adapted / "alpha.h5"), (adapted / "alpha.h5").string());
    }
  }
  if (phase == Phase::tune) {
    // Fold alpha into the integer codes: the tuned model has no extra parameters.
    quant::fold_alpha(*llm);
    if (m.tuning == "lora") quant::add_lora(*llm, m.lora, quant::path_pattern("layers.0-.*_proj"));
  }
  model->to(e::parse_device(s.llava.device));
  model->set_requires_grad(false);
  return model;
}

void save_adapted(const std::filesystem::path& dir, nn::Llava& model) {
  e::TensorFile projector;
  projector.tensors = model.projector().state_dict();
  e::save_tensor_file(dir / "projector.h5", projector);
  auto alpha = quant::alpha_state(model.llm());
  if (!alpha.empty()) {
    e::TensorFile f;
    f.tensors = alpha;
    e::save_tensor_file(dir / "alpha.h5", f);
  }
}

data::Conversation sqa_conversation(const data::SqaQuestion& q, const LlavaSettings& llava) {
  return {{{data::sqa_prompt(q), data::sqa_target(q, llava.answer_format, llava.target)}}, q.has_image,
          llava.system_prompt};
}

e::Tensor split_image(const data::SqaSplit& split, int64_t index) {
  const int64_t row = split.image_index[static_cast<std::size_t>(index)];
  return row < 0 ? e::Tensor() : split.images.select(0, row);
}

Sample sqa_sample(const data::SqaSplit& split, int64_t index, const MultimodalSetup& setup) {
  const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(index)];
  return {data::encode_conversation(sqa_conversation(q, setup.llava), data::Template::v1, setup.tok, setup.image_tokens(),
                                    setup.llava.max_len),
          split_image(split, index)};
}

ModelBatch make_batch(const std::vector<Sample>& samples) {
  std::vector<data::Encoded> encoded;
  std::vector<e::Tensor> images;
  for (const Sample& s : samples) {
    encoded.push_back(s.encoded);
    if (s.encoded.has_image) {
      QS_CHECK(s.image.defined(), "make_batch: a sample with image tokens has no image");
      images.push_back(s.image);
    }
  }
  ModelBatch b{data::collate(encoded), e::Tensor()};
  if (!images.empty()) b.images = normalized_images(images);
  return b;
}

e::Tensor normalized_images(const std::vector<e::Tensor>& images) {
  QS_CHECK(!images.empty(), "normalized_images: no images");
  const int64_t h = images[0].size(0), w = images[0].size(1);
  e::Tensor stacked({static_cast<int64_t>(images.size()), h, w, 3}, e::DType::u8);
  for (std::size_t i = 0; i < images.size(); ++i) e::copy_(stacked.select(0, static_cast<int64_t>(i)), images[i]);
  vision::PreprocessConfig pre;
  pre.size = h;
  return vision::normalize_batch(stacked, pre);
}

int64_t EpochSampler::at(int64_t k) {
  const int64_t epoch = k / n_;
  if (epoch != epoch_) {
    perm_.resize(static_cast<std::size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) perm_[static_cast<std::size_t>(i)] = i;
    data::Rng rng = data::Rng(seed_).fork(static_cast<uint64_t>(epoch));
    for (int64_t i = n_ - 1; i > 0; --i) std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(rng.below(i + 1))]);
    epoch_ = epoch;
  }
  return perm_[static_cast<std::size_t>(k % n_)];
}

nn::ParamGroup trainable_group(const std::string& name, nn::Module& module, const std::string& prefix, double lr,
                               double weight_decay) {
  nn::ParamGroup g{name, {}, lr, weight_decay};
  for (auto& [path, p] : module.named_parameters()) {
    if (p.requires_grad()) g.params.emplace_back(prefix + path, p);
  }
  return g;
}

std::vector<nn::ParamGroup> adapt_groups(nn::Llava& model, const StageTrain& train) {
  model.projector().set_requires_grad(true);
  quant::set_alpha_trainable(model.llm());
  return {trainable_group("projector", model.projector(), "projector.", train.projector_lr, 0.0),
          trainable_group("alpha", model.llm(), "llm.", train.lr, 0.0)};
}

TrainStats train_llava(nn::Llava& model, std::vector<nn::ParamGroup> groups, const StageTrain& c,
                       const std::function<ModelBatch(int64_t)>& next_batch, RunLog& log, const std::string& stage,
                       const std::function<void(int64_t)>& on_step) {
  TrainStats stats;
  std::vector<ag::Var> params;
  std::map<std::string, ag::Var> named;
  for (auto& g : groups) {
    for (auto& [path, p] : g.params) {
      params.push_back(p);
      named.emplace(path, p);
      stats.trainable_params += p.numel();
    }
  }
  QS_CHECK(!params.empty() || c.steps == 0, "[{}] nothing to train", stage);
  nn::AdamW opt(std::move(groups), 0.9, 0.999, 1e-8);
  nn::LrSchedule schedule{nn::LrSchedule::Kind::warmup_cosine, std::max<int64_t>(c.steps, 1), c.warmup_ratio,
                          c.min_lr_ratio};
  const e::Device device = model.llm().parameters().front().data().device();
  e::cpu::host_reset_peak();
  if (device.is_cuda()) e::cuda_reset_peak(device.index);
  model.train();
  const auto start = std::chrono::steady_clock::now();
  double interval = 0.0;
  int64_t interval_steps = 0;
  for (int64_t step = 0; step < c.steps; ++step) {
    ModelBatch b = next_batch(step);
    opt.set_lr_scale(schedule.factor(step));
    if (b.batch.loss_tokens == 0) continue;
    if (step == 0) {  // the frozen ViT keeps no activations; the LLM's blocks do
      const nn::LlamaConfig& mc = model.llm().config();
      MemoryEstimate m;
      m.weights = 4.0 * static_cast<double>(model.num_parameters());
      m.training = 12.0 * static_cast<double>(stats.trainable_params);
      m.activations = block_activation_bytes(b.batch.ids.numel(), mc.n_layers, mc.dim, mc.hidden()) +
                      12.0 * static_cast<double>(b.batch.loss_tokens) * static_cast<double>(mc.vocab_size);
      check_memory(m, stage);
    }
    // Logits only where the loss has a target (the assistant's answers).
    const nn::TargetRows rows = nn::target_rows(b.batch.targets, data::kIgnore);
    nn::LlmForward f;
    f.logit_rows = rows.rows;
    ag::Var loss = ag::cross_entropy(model.forward(b.batch.ids, b.images, f).logits, rows.targets);
    const double value = loss.data().item<double>();
    QS_CHECK(std::isfinite(value), "[{}] loss is {} at step {}: training diverged (lower the learning rate?)", stage,
             value, step);
    loss.backward();
    if (c.grad_clip > 0) nn::clip_grad_norm(params, c.grad_clip);
    opt.step();
    opt.zero_grad();
    stats.tokens += b.batch.tokens;
    interval += value;
    ++interval_steps;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double tps = static_cast<double>(stats.tokens) / std::max(secs, 1e-9);
    log.progress(stage, step + 1, c.steps, value, tps, secs);
    if ((step + 1) % c.log_every == 0 || step + 1 == c.steps) {
      stats.final_loss = interval / static_cast<double>(interval_steps);
      stats.curve.emplace_back(step + 1, stats.final_loss);
      log.metrics({{"stage", stage}, {"step", step + 1}, {"loss", stats.final_loss}, {"lr", c.lr * schedule.factor(step)},
                   {"tokens_per_second", tps}, {"elapsed_seconds", secs}});
      interval = 0.0;
      interval_steps = 0;
    }
    if (on_step) on_step(step);
  }
  // The loss is checked every step; weights and moments once at the end,
  // before the stage's outputs are saved and cached.
  std::map<std::string, e::Tensor> state = opt.state_dict();
  for (const auto& [path, p] : named) state["param." + path] = p.data();
  nn::check_finite(state, fmt::format("[{}] after step {}", stage, c.steps));
  model.eval();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.tokens_per_second = static_cast<double>(stats.tokens) / std::max(stats.seconds, 1e-9);
  // Tensor memory of the loop on the device it ran on.
  stats.peak_memory_mb = static_cast<double>(device.is_cuda() ? e::cuda_memory_stats(device.index).peak
                                                               : e::cpu::host_cache_stats().peak_live_bytes) /
                         (1 << 20);
  return stats;
}

}  // namespace qs::experiments
