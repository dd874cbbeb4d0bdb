// The training loop the align, warmup and instruct stages share, and the
// parameter groups it adapts.
#include "experiments/stages/multimodal.h"

#include <chrono>
#include <cmath>

#include "autograd/functions.h"
#include "engine/backend.h"
#include "engine/cpu/host_allocator.h"
#include "engine/dist/process_group.h"
#include "engine/ops.h"
#include "experiments/stages/memory_estimate.h"
#include "nn/data_parallel.h"
#include "nn/finite.h"
#include "nn/optim/schedule.h"
#include "quant/scale_learning.h"

namespace qs::experiments {

namespace ag = qs::autograd;
namespace e = qs::engine;

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
  return {trainable_group("projector", model.projector(), "projector.", train.projector_lr, 0.0),
          quant::alpha_group(model.llm(), train.lr, "llm.")};
}

TrainStats train_llava(nn::Llava& model, std::vector<nn::ParamGroup> groups, const StageTrain& c,
                       const std::function<std::vector<Sample>(int64_t)>& next_samples, RunLog& log,
                       const std::string& stage, const std::function<void(int64_t)>& on_step) {
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
  e::dist::ProcessGroup& group = e::dist::world();
  nn::GradientSync sync(params, group);
  sync.broadcast_parameters();
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
    // Every rank draws the same global batch and trains on its share of it.
    std::vector<Sample> samples = next_samples(step);
    const e::dist::Share share = e::dist::share_of(static_cast<int64_t>(samples.size()), group.rank(), group.size());
    if (group.size() > 1) {
      samples = std::vector<Sample>(samples.begin() + share.begin, samples.begin() + share.end);
    }
    ModelBatch b = samples.empty() ? ModelBatch{} : make_batch(samples);
    const int64_t local_loss_tokens = samples.empty() ? 0 : b.batch.loss_tokens;
    const int64_t local_tokens = samples.empty() ? 0 : b.batch.tokens;
    // The global batch's counts: its loss is the mean over all its answer
    // tokens, whichever rank holds them.
    int64_t loss_tokens = local_loss_tokens, tokens = local_tokens;
    if (group.size() > 1) {
      e::Tensor counts = e::from_vector(std::vector<int64_t>{local_loss_tokens, local_tokens}, {2});
      group.all_reduce(counts);
      loss_tokens = counts.data<int64_t>()[0];
      tokens = counts.data<int64_t>()[1];
    }
    opt.set_lr_scale(schedule.factor(step));
    if (loss_tokens == 0) continue;
    if (step == 0 && local_loss_tokens > 0) {  // the frozen ViT keeps no activations; the LLM's blocks do
      const nn::LlamaConfig& mc = model.llm().config();
      MemoryEstimate m;
      m.weights = 4.0 * static_cast<double>(model.num_parameters());
      m.training = 12.0 * static_cast<double>(stats.trainable_params);
      m.activations = block_activation_bytes(b.batch.ids.numel(), mc.n_layers, mc.dim, mc.hidden()) +
                      12.0 * static_cast<double>(b.batch.loss_tokens) * static_cast<double>(mc.vocab_size);
      check_memory(m, stage);
    }
    double value = 0.0;
    if (local_loss_tokens > 0) {
      // Logits only where the loss has a target (the assistant's answers).
      const nn::TargetRows rows = nn::target_rows(b.batch.targets, data::kIgnore);
      nn::LlmForward f;
      f.logit_rows = rows.rows;
      ag::Var loss = ag::cross_entropy(model.forward(b.batch.ids, b.images, f).logits, rows.targets);
      value = loss.data().item<double>();
      QS_CHECK(std::isfinite(value), "[{}] loss is {} at step {}: training diverged (lower the learning rate?){}", stage,
               value, step, group.size() > 1 ? fmt::format(" (rank {})", group.rank()) : "");
      // This rank's mean, weighted by its share of the answer tokens: the
      // ranks' average gradient is then the global batch's.
      const double weight = static_cast<double>(local_loss_tokens) / static_cast<double>(loss_tokens);
      if (group.size() > 1) {
        value *= weight;
        loss = loss * (weight * static_cast<double>(group.size()));
      }
      sync.backward(loss);
    }
    sync.finish();
    if (group.size() > 1) {
      e::Tensor v = e::from_vector(std::vector<double>{value}, {1});
      group.all_reduce(v);
      value = v.data<double>()[0];
    }
    if (c.grad_clip > 0) nn::clip_grad_norm(params, c.grad_clip);
    opt.step();
    opt.zero_grad();
    stats.tokens += tokens;
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
