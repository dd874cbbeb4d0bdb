// Stage instruct: VL instruction tuning on SynthSQA train (the `v1` template,
// loss on the answers only). The LLM is built as the method says (FP, NF4,
// or uniform 4-bit with alpha folded into its codes), then fully fine-tuned
// or given LoRA adapters; the projector always trains, at its own rate.
// Outputs: tuned.h5 (every parameter that trained), results (loss, time,
// tokens/s, trainable parameters, peak memory, weight memory).
#include "engine/io/tensor_file.h"
#include "experiments/stages/multimodal.h"
#include "quant/footprint.h"

namespace qs::experiments {

namespace {

StageTrain read_config(ConfigSection& s) {
  return read_stage_train(s.section("train"), {600, 16, 10, 2e-4, 2e-5, 0.03, 0.0, 0.0, 1.0});
}

nlohmann::json run(StageContext& ctx) {
  StageTrain c = read_config(ctx.config);
  QS_CHECK(ctx.upstream.count("warmup"), "[instruct] needs the warmup stage before it in 'stages'");
  MultimodalSetup setup = load_setup(ctx);
  RunLog& log = *ctx.log;
  auto model = build_llava(setup, Phase::tune, ctx.upstream.at("warmup"));
  // The full-precision copies are not part of the tuned model's memory.
  setup.llm_weights.clear();
  setup.vit_weights.clear();
  if (setup.method.tuning == Tuning::full) {
    model->llm().set_requires_grad(true);
  } else {
    for (auto& [path, p] : model->llm().named_parameters()) {
      const bool adapter = path.ends_with(".lora_a") || path.ends_with(".lora_b");
      if (adapter) p.set_requires_grad(true);
    }
  }
  model->projector().set_requires_grad(true);
  std::vector<nn::ParamGroup> groups{trainable_group("llm", model->llm(), "llm.", c.lr, c.weight_decay),
                                     trainable_group("projector", model->projector(), "projector.", c.projector_lr, 0.0)};
  const quant::WeightFootprint footprint = quant::weight_footprint(model->llm());
  data::SqaDataset sqa = load_sqa_data(setup);
  const int64_t n = static_cast<int64_t>(sqa.train.questions.size());
  log.line(fmt::format("[instruct] {}: {} {} train questions, LLM weights {:.2f} MB", setup.method.label(), n,
                       setup.sqa_source.empty() ? "SynthSQA" : "ScienceQA",
                       static_cast<double>(footprint.total_bytes) / (1 << 20)));
  EpochSampler order(n, setup.method.seed + 505);
  auto next = [&](int64_t step) {
    std::vector<Sample> samples;
    for (int64_t k = 0; k < c.batch_size; ++k) samples.push_back(sqa_sample(sqa.train, order.at(step * c.batch_size + k), setup));
    return make_batch(samples);
  };
  TrainStats stats = train_llava(*model, std::move(groups), c, next, log, "instruct");
  log.line(fmt::format("[instruct] loss {:.4f}; {:.1f} s, {:.0f} tokens/s, {} trainable parameters, peak {:.1f} MB",
                       stats.final_loss, stats.seconds, stats.tokens_per_second, stats.trainable_params,
                       stats.peak_memory_mb));
  engine::TensorFile tuned;
  for (auto& [path, p] : model->named_parameters()) {
    if (p.requires_grad()) tuned.tensors[path] = p.data();
  }
  tuned.attributes["method"] = setup.method.label();
  engine::save_tensor_file(ctx.artifacts / "tuned.h5", tuned);
  nlohmann::json curve = nlohmann::json::array();
  for (auto [step, loss] : stats.curve) curve.push_back({step, loss});
  return {{"loss", stats.final_loss},
          {"loss_curve", curve},
          {"seconds", stats.seconds},
          {"tokens_per_second", stats.tokens_per_second},
          {"trainable_params", stats.trainable_params},
          {"peak_memory_mb", stats.peak_memory_mb},
          {"llm_weight_mb", static_cast<double>(footprint.total_bytes) / (1 << 20)}};
}

}  // namespace

StageDef instruct_stage() {
  return {"instruct", "VL instruction tuning on SynthSQA train (full, LoRA, QLoRA or QSLAW)",
          [](ConfigSection& s) { read_config(s); }, run, {"method", "llava", "sqa"}};
}

}  // namespace qs::experiments
