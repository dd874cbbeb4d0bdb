#include "experiments/stages/lm_training.h"

#include <chrono>
#include <cmath>
#include <cstdlib>

#include "autograd/functions.h"
#include "data/lm_dataset.h"
#include "engine/backend.h"
#include "engine/dist/process_group.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "experiments/stages/memory_estimate.h"
#include "nn/data_parallel.h"
#include "nn/finite.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/schedule.h"

namespace qs::experiments {

namespace ag = qs::autograd;
namespace e = qs::engine;

LmTrainConfig read_train_config(ConfigSection s) {
  LmTrainConfig c;
  c.steps = s.get<int64_t>("steps", c.steps);
  c.batch_size = s.get_in<int64_t>("batch_size", c.batch_size, 1, 65536);
  c.seq_len = s.get_in<int64_t>("seq_len", c.seq_len, 1, 1 << 17);
  c.grad_accum = s.get<int64_t>("grad_accum", c.grad_accum);
  c.lr = s.get<double>("lr", c.lr);
  c.min_lr_ratio = s.get<double>("min_lr_ratio", c.min_lr_ratio);
  c.warmup_ratio = s.get<double>("warmup_ratio", c.warmup_ratio);
  c.schedule = s.get<std::string>("schedule", c.schedule);
  c.weight_decay = s.get<double>("weight_decay", c.weight_decay);
  c.beta1 = s.get<double>("beta1", c.beta1);
  c.beta2 = s.get<double>("beta2", c.beta2);
  c.eps = s.get<double>("eps", c.eps);
  c.grad_clip = s.get<double>("grad_clip", c.grad_clip);
  c.activation_checkpointing = s.get<bool>("activation_checkpointing", c.activation_checkpointing);
  c.log_every = s.get<int64_t>("log_every", c.log_every);
  c.eval_every = s.get<int64_t>("eval_every", c.eval_every);
  c.eval_batches = s.get<int64_t>("eval_batches", c.eval_batches);
  c.checkpoint_every = s.get<int64_t>("checkpoint_every", c.checkpoint_every);
  c.device = s.get<std::string>("device", c.device);
  try {
    e::parse_device(c.device);
  } catch (const Error& err) {
    fail("config {}: '{}': {}", s.file(), s.path_of("device"), err.what());
  }
  s.finish();
  auto positive = [&](const char* key, int64_t v) {
    QS_CHECK(v > 0, "config {}: '{}' must be positive, got {}", s.file(), s.path_of(key), v);
  };
  positive("steps", c.steps);
  positive("batch_size", c.batch_size);
  positive("seq_len", c.seq_len);
  positive("grad_accum", c.grad_accum);
  positive("log_every", c.log_every);
  positive("eval_every", c.eval_every);
  positive("eval_batches", c.eval_batches);
  positive("checkpoint_every", c.checkpoint_every);
  QS_CHECK(c.lr > 0, "config {}: '{}' must be positive, got {}", s.file(), s.path_of("lr"), c.lr);
  nn::LrSchedule::parse_kind(c.schedule);
  return c;
}

nn::LlamaConfig read_model_config(ConfigSection s, uint64_t seed) {
  nn::LlamaConfig c;
  c.dim = s.get_in<int64_t>("dim", c.dim, 2, 1 << 16);
  c.n_layers = s.get_in<int64_t>("n_layers", c.n_layers, 1, 1024);
  c.n_heads = s.get_in<int64_t>("n_heads", c.n_heads, 1, 1024);
  c.ffn_hidden = s.get_in<int64_t>("ffn_hidden", c.ffn_hidden, 0, 1 << 17);  // 0: LLaMA's rule
  c.max_seq_len = s.get_in<int64_t>("max_seq_len", c.max_seq_len, 1, 1 << 17);
  c.norm_eps = s.get<double>("norm_eps", c.norm_eps);
  c.rope_theta = s.get<double>("rope_theta", c.rope_theta);
  c.init_std = s.get<double>("init_std", c.init_std);
  c.scaled_residual_init = s.get<bool>("scaled_residual_init", c.scaled_residual_init);
  s.finish();
  QS_CHECK(c.dim > 0 && c.n_heads > 0 && c.dim % c.n_heads == 0 && (c.dim / c.n_heads) % 2 == 0,
           "config {}: '{}' ({}) must be a positive multiple of n_heads ({}) with an even head size",
           s.file(), s.path_of("dim"), c.dim, c.n_heads);
  QS_CHECK(c.n_layers > 0, "config {}: '{}' must be positive", s.file(), s.path_of("n_layers"));
  c.seed = seed;
  return c;
}

data::CorpusConfig read_corpus_config(ConfigSection s, uint64_t seed) {
  data::CorpusConfig c;
  c.seed = seed;
  c.documents = s.get<int64_t>("documents", c.documents);
  c.val_fraction = s.get<double>("val_fraction", c.val_fraction);
  c.text_files = s.get<std::vector<std::string>>("text_files", {});
  ConfigSection ent = s.section("entities");
  c.entities.count = ent.get<int64_t>("count", c.entities.count);
  c.entities.visible = ent.get<int64_t>("visible", c.entities.count > 0 ? c.entities.visible : 0);
  c.entities.zipf = ent.get<double>("zipf", c.entities.zipf);
  c.entity_documents = ent.get<int64_t>("documents", c.entity_documents);
  ent.finish();
  QS_CHECK(c.entities.count >= 0 && c.entity_documents >= 0 && (c.entity_documents == 0 || c.entities.count > 0),
           "config {}: '{}' and '{}' must be >= 0, and documents need a positive count", s.file(),
           ent.path_of("count"), ent.path_of("documents"));
  QS_CHECK(c.entities.visible >= 0 && c.entities.visible <= std::min<int64_t>(c.entities.count, 120),
           "config {}: '{}' must be in [0, min(count, 120)] (5 shapes x 6 colors x 4 patterns), got {}", s.file(),
           ent.path_of("visible"), c.entities.visible);
  QS_CHECK(c.entities.zipf >= 0 && c.entities.zipf <= 4, "config {}: '{}' must be in [0, 4], got {}", s.file(),
           ent.path_of("zipf"), c.entities.zipf);
  ConfigSection eng = s.section("english");
  c.english.wordnet = eng.get<std::string>("wordnet", c.english.wordnet);
  c.english.gcide = eng.get<std::string>("gcide", c.english.gcide);
  c.english.max_documents = eng.get<int64_t>("max_documents", c.english.max_documents);
  c.english.val_fraction = eng.get<double>("val_fraction", c.english.val_fraction);
  eng.finish();
  QS_CHECK(c.english.max_documents >= 0 && c.english.val_fraction > 0 && c.english.val_fraction < 1,
           "config {}: '{}' must be >= 0 and '{}' in (0, 1)", s.file(), eng.path_of("max_documents"),
           eng.path_of("val_fraction"));
  s.finish();
  QS_CHECK(c.val_fraction > 0 && c.val_fraction < 1, "config {}: '{}' must be in (0, 1), got {}", s.file(),
           s.path_of("val_fraction"), c.val_fraction);
  return c;
}

namespace {

std::vector<nn::ParamGroup> param_groups(nn::Llama& model, const LmTrainConfig& c) {
  // Weight decay on matrices only; norms and embeddings-as-vectors are exempt.
  nn::ParamGroup decay{"decay", {}, c.lr, c.weight_decay};
  nn::ParamGroup no_decay{"no_decay", {}, c.lr, 0.0};
  for (auto& [name, p] : model.named_parameters()) {
    if (!p.requires_grad()) continue;
    (p.dim() >= 2 ? decay : no_decay).params.emplace_back(name, p);
  }
  return {decay, no_decay};
}

ag::Var lm_loss(nn::Llama& model, const e::Tensor& inputs, const e::Tensor& targets) {
  ag::Var logits = model.forward(inputs).logits;
  const int64_t v = logits.size(-1);
  return ag::cross_entropy(ag::reshape(logits, {-1, v}), targets.reshape({-1}));
}

// What a resumed run needs besides weights and moments to report the same
// figures as an uninterrupted one (a kill after the last checkpoint resumes
// with no step left to measure).
struct CheckpointStats {
  int64_t step = 0;
  double train_loss = 0.0;
  double seconds = 0.0;  // training time of the steps before `step`
};

void save_checkpoint(const std::filesystem::path& path, nn::Llama& model, nn::Optimizer& opt, const CheckpointStats& stats,
                     const std::string& config_yaml, const std::string& stage) {
  e::TensorFile f;
  for (auto& [k, t] : model.state_dict()) f.tensors["model." + k] = t;
  for (auto& [k, t] : opt.state_dict()) f.tensors["optim." + k] = t;
  nn::check_finite(f.tensors, fmt::format("[{}] step {}", stage, stats.step));
  f.attributes["step"] = std::to_string(stats.step);
  f.attributes["train_loss"] = fmt::format("{:.17g}", stats.train_loss);
  f.attributes["train_seconds"] = fmt::format("{:.17g}", stats.seconds);
  f.attributes["config"] = config_yaml;
  e::save_tensor_file(path, f);
}

// A number stored as text in a checkpoint attribute (absent: fallback).
double attribute_number(const e::TensorFile& f, const std::string& key, double fallback, const std::filesystem::path& path) {
  auto it = f.attributes.find(key);
  if (it == f.attributes.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  QS_CHECK(end != it->second.c_str() && *end == '\0' && std::isfinite(v), "checkpoint {}: attribute '{}' is not a number: '{}'",
           path.string(), key, it->second);
  return v;
}

CheckpointStats load_checkpoint(const std::filesystem::path& path, nn::Llama& model, nn::Optimizer& opt) {
  e::TensorFile f = e::load_tensor_file(path);
  std::map<std::string, e::Tensor> model_state, opt_state;
  for (auto& [k, t] : f.tensors) {
    if (k.rfind("model.", 0) == 0) model_state[k.substr(6)] = t;
    else if (k.rfind("optim.", 0) == 0) opt_state[k.substr(6)] = t;
    else fail("checkpoint {}: unexpected entry '{}'", path.string(), k);
  }
  try {
    model.load_state_dict(model_state);
    opt.load_state_dict(opt_state);
  } catch (const Error& err) {
    fail("checkpoint {} does not match this model: {}", path.string(), err.what());
  }
  QS_CHECK(f.attributes.count("step"), "checkpoint {}: no 'step' attribute", path.string());
  const double step = attribute_number(f, "step", 0, path);
  QS_CHECK(step >= 0 && step == std::floor(step), "checkpoint {}: 'step' must be a whole number >= 0", path.string());
  return {static_cast<int64_t>(step), attribute_number(f, "train_loss", 0.0, path), attribute_number(f, "train_seconds", 0.0, path)};
}

}  // namespace

double evaluate_lm(nn::Llama& model, const e::Tensor& sequences, int64_t batch_size, int64_t max_batches) {
  ag::NoGrad no_grad;
  const int64_t n = sequences.size(0), t = sequences.size(1) - 1;
  double total = 0.0;
  int64_t batches = 0;
  for (int64_t start = 0; start < n && batches < max_batches; start += batch_size, ++batches) {
    e::Tensor rows = sequences.slice(0, start, std::min(n, start + batch_size));
    e::Tensor inputs = rows.slice(1, 0, t).contiguous(), targets = rows.slice(1, 1, t + 1).contiguous();
    total += lm_loss(model, inputs, targets).data().item<double>();
  }
  return batches ? total / static_cast<double>(batches) : 0.0;
}

LmTrainResult train_lm(nn::Llama& model, const e::Tensor& train, const e::Tensor& val,
                       const LmTrainConfig& c, uint64_t seed, const std::filesystem::path& checkpoint,
                       RunLog& log, const std::string& stage, int64_t stop_after,
                       const std::string& config_yaml) {
  model.train();
  model.set_checkpointing(c.activation_checkpointing);
  nn::AdamW opt(param_groups(model, c), c.beta1, c.beta2, c.eps);
  nn::LrSchedule schedule{nn::LrSchedule::parse_kind(c.schedule), c.steps, c.warmup_ratio, c.min_lr_ratio};
  data::LmBatches batches(train, c.batch_size, seed);
  LmTrainResult result;
  int64_t step = 0;
  double seconds_before = 0.0;  // training time of the steps a resumed run did not redo
  // With several processes every rank reads rank 0's checkpoint (rank 0
  // decides whether there is one) and only rank 0 writes it: all ranks hold
  // the same weights and moments, so it does not depend on the world size.
  e::dist::ProcessGroup& group = e::dist::world();
  bool resume = std::filesystem::exists(checkpoint);
  if (group.size() > 1) {
    e::Tensor flag = e::from_vector(std::vector<int64_t>{resume ? 1 : 0});
    group.broadcast(flag);
    resume = flag.data<int64_t>()[0] != 0;
  }
  if (resume) {
    const CheckpointStats saved = load_checkpoint(checkpoint, model, opt);
    step = saved.step;
    result.train_loss = saved.train_loss;
    seconds_before = saved.seconds;
    result.resumed = true;
    log.line(fmt::format("[{}] resumed from {} at step {}", stage, checkpoint.string(), step));
  } else if (group.size() > 1) {
    std::map<std::string, e::Tensor> state = model.state_dict();
    nn::broadcast_state(state, group);  // rank 0's initial weights everywhere
  }
  std::vector<ag::Var> trainable;
  for (const ag::Var& p : model.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  nn::GradientSync sync(trainable, group);
  {
    const nn::LlamaConfig& mc = model.config();
    const int64_t tokens = c.batch_size * c.seq_len;
    MemoryEstimate m;
    m.weights = 4.0 * static_cast<double>(model.num_parameters());
    m.training = 12.0 * static_cast<double>(model.num_parameters(true));
    // Checkpointed blocks keep their inputs and recompute one block at a time.
    m.activations = (c.activation_checkpointing
                         ? block_activation_bytes(tokens, 1, mc.dim, mc.hidden()) + 4.0 * tokens * mc.dim * mc.n_layers
                         : block_activation_bytes(tokens, mc.n_layers, mc.dim, mc.hidden())) +
                    12.0 * static_cast<double>(tokens) * static_cast<double>(mc.vocab_size);
    check_memory(m, stage);
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_step = step;
  const double tokens_per_step = static_cast<double>(c.batch_size * c.grad_accum * c.seq_len);
  double interval_loss = 0.0;
  int64_t interval_steps = 0;
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (; step < c.steps; ++step) {
    if (stop_after >= 0 && step - first_step >= stop_after) return result;
    opt.set_lr_scale(schedule.factor(step));
    double loss_sum = 0.0;
    for (int64_t micro = 0; micro < c.grad_accum; ++micro) {
      data::LmBatch b = batches.batch(step * c.grad_accum + micro);
      QS_CHECK(b.inputs.size(1) <= model.config().max_seq_len,
               "[{}] seq_len {} exceeds the model's max_seq_len {}", stage, b.inputs.size(1),
               model.config().max_seq_len);
      // This rank's rows of the global batch; its mean loss weighted by its
      // share of the rows, so the ranks' average gradient is the batch's.
      const int64_t rows = b.inputs.size(0);
      const e::dist::Share share = e::dist::share_of(rows, group.rank(), group.size());
      if (share.size() == 0) continue;
      const double weight = static_cast<double>(share.size()) / static_cast<double>(rows);
      if (group.size() > 1) {
        b.inputs = b.inputs.slice(0, share.begin, share.end).contiguous();
        b.targets = b.targets.slice(0, share.begin, share.end).contiguous();
      }
      ag::Var loss = lm_loss(model, b.inputs, b.targets);
      const double value = loss.data().item<double>();
      QS_CHECK(std::isfinite(value), "[{}] loss is {} at step {}: training diverged (lower train.lr?){}", stage, value,
               step, group.size() > 1 ? fmt::format(" (rank {})", group.rank()) : "");
      ag::Var scaled = group.size() > 1
                           ? loss * (weight * static_cast<double>(group.size()) / static_cast<double>(c.grad_accum))
                           : (c.grad_accum > 1 ? loss * (1.0 / static_cast<double>(c.grad_accum)) : loss);
      loss_sum += group.size() > 1 ? value * weight : value;
      if (micro + 1 == c.grad_accum) sync.backward(scaled);
      else scaled.backward();
    }
    sync.finish();
    if (group.size() > 1) {
      e::Tensor total = e::from_vector(std::vector<double>{loss_sum});
      group.all_reduce(total);
      loss_sum = total.data<double>()[0];
    }
    const double grad_norm = c.grad_clip > 0 ? nn::clip_grad_norm(model.parameters(), c.grad_clip) : 0.0;
    opt.step();
    opt.zero_grad();
    const double loss_value = loss_sum / static_cast<double>(c.grad_accum);
    interval_loss += loss_value;
    ++interval_steps;
    const int64_t done = step + 1;
    const double secs = elapsed();
    const double tps = tokens_per_step * static_cast<double>(done - first_step) / std::max(secs, 1e-9);
    log.progress(stage, done, c.steps, loss_value, tps, secs);
    if (done % c.log_every == 0 || done == c.steps) {
      result.train_loss = interval_loss / static_cast<double>(interval_steps);
      log.metrics({{"stage", stage}, {"step", done}, {"loss", result.train_loss},
                   {"lr", c.lr * schedule.factor(step)}, {"grad_norm", grad_norm},
                   {"tokens_per_second", tps}, {"elapsed_seconds", secs}});
      interval_loss = 0.0;
      interval_steps = 0;
    }
    if (done % c.eval_every == 0 && done != c.steps) {
      model.eval();
      const double vl = evaluate_lm(model, val, c.batch_size, c.eval_batches);
      model.train();
      log.metrics({{"stage", stage}, {"step", done}, {"val_loss", vl}, {"val_ppl", std::exp(vl)}});
      log.line(fmt::format("[{}] step {} val loss {:.4f} ppl {:.2f}", stage, done, vl, std::exp(vl)));
    }
    if ((done % c.checkpoint_every == 0 || done == c.steps) && group.rank() == 0) {
      save_checkpoint(checkpoint, model, opt, {done, result.train_loss, seconds_before + elapsed()}, config_yaml, stage);
    }
  }
  nn::check_finite(model.state_dict(), fmt::format("[{}] after step {}", stage, step));
  result.steps_done = step;
  result.seconds = seconds_before + elapsed();
  result.tokens_per_second = tokens_per_step * static_cast<double>(step) / std::max(result.seconds, 1e-9);
  model.set_checkpointing(false);
  return result;
}

}  // namespace qs::experiments
