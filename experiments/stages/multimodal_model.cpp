// The model each multimodal phase rebuilds from upstream artifacts: the setup
// (pretrained LLM and ViT, grids), the LLaVA with its quantized or LoRA-adapted
// LLM, and the adapted state saved between phases.
#include "experiments/stages/multimodal.h"

#include "engine/backend.h"
#include "engine/dist/process_group.h"
#include "engine/io/tensor_file.h"
#include "experiments/stages/pretrain_clip.h"
#include "interop/hf_llava.h"
#include "interop/scienceqa_data.h"
#include "quant/quant_linear.h"
#include "quant/scale_learning.h"
#include "quant/surgery.h"

namespace qs::experiments {

namespace e = qs::engine;

namespace {

ConfigSection shared_section(const StageContext& ctx, const std::string& name) {
  const YAML::Node node = ctx.experiment[name] ? ctx.experiment[name] : YAML::Node(YAML::NodeType::Map);
  return ConfigSection(node, name, ctx.file);
}

std::map<std::string, e::Tensor> load_weights(const std::filesystem::path& path) {
  return e::load_tensor_file(path).tensors;
}

// The projector a run trains from scratch (in and out: the towers' widths).
nn::ProjectorConfig new_projector(const MultimodalSetup& s) {
  return {.type = s.llava.projector, .in = s.vit.width, .out = s.pre.model.dim, .init_std = 0.02,
          .seed = s.method.seed + 11};
}

}  // namespace

MultimodalSetup load_setup(StageContext& ctx) {
  MultimodalSetup s;
  ConfigSection llava = shared_section(ctx, "llava");
  s.llava = read_llava_settings(llava);
  // The corpus (warmup's text, SynthSQA's creatures, the text perplexity)
  // comes from pretrain_llm's section even when the models are imported.
  ConfigSection pre = shared_section(ctx, "pretrain_llm");
  s.pre = read_pretrain_config(pre, ctx.seed);
  ConfigSection method = shared_section(ctx, "method");
  s.method = read_method_config(method);
  if (s.llava.imported()) {
    const interop::LlavaConfigs configs =
        s.llava.from.empty() ? interop::assembled_llava_configs(s.llava.llm_from, s.llava.vision_from, new_projector(s))
                             : interop::read_llava_configs(s.llava.from, s.llava.clip_from);
    s.pre.model = configs.text.config;
    s.vit = configs.vision;
    s.image_token_id = configs.image_token_id;
    auto tok = std::make_shared<data::SentencePieceTokenizer>(data::SentencePieceTokenizer::load(s.llava.tokenizer));
    QS_CHECK(tok->vocab_size() <= s.pre.model.vocab_size,
             "[{}] the tokenizer {} has {} tokens but the LLM's vocabulary only {}", ctx.stage,
             s.llava.tokenizer.string(), tok->vocab_size(), s.pre.model.vocab_size);
    s.tok = PipelineTokens::sentencepiece(std::move(tok), s.image_token_id);
    QS_CHECK(s.method.weights != Weights::lwc,
             "[{}] method.weights lwc needs the calibrate stage, which runs on pretrain_llm's model; an imported "
             "LLaVA starts from minmax, nf4 or fp weights (set method.weights)",
             ctx.stage);
  } else {
    for (const char* need : {"pretrain_llm", "pretrain_clip"}) {
      QS_CHECK(ctx.upstream.count(need), "[{}] needs the {} stage before it in 'stages' (or llava.from)", ctx.stage,
               need);
    }
    const auto& llm_dir = ctx.upstream.at("pretrain_llm");
    data::Tokenizer tok = data::Tokenizer::load(llm_dir / "tokenizer.json");
    s.pre.model.vocab_size = tok.vocab_size();
    s.tok = PipelineTokens::own(std::move(tok));
    s.llm_weights = load_weights(llm_dir / "model.h5");
    s.vit = read_clip_vit_config(ctx.experiment, ctx.file);
    s.vit_weights = load_weights(ctx.upstream.at("pretrain_clip") / "vision.h5");
  }
  QS_CHECK(s.llava.max_len <= s.pre.model.max_seq_len, "config {}: llava.max_len {} exceeds the LLM's max_seq_len {}",
           ctx.file, s.llava.max_len, s.pre.model.max_seq_len);
  ConfigSection sqa = shared_section(ctx, "sqa");
  s.sqa = read_sqa_config(sqa, &s.sqa_source);
  s.sqa.seed = ctx.seed;
  s.sqa.scene.canvas = static_cast<int>(s.vit.image_size);
  // Questions about the creatures the LLM read about in pretraining.
  s.sqa.entities = s.pre.corpus.entities;
  s.sqa.entities.seed = s.pre.corpus.seed;
  if (s.method.weights == Weights::lwc) {
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

data::SqaDataset load_sqa_data(const MultimodalSetup& setup) {
  if (!setup.sqa_source.empty()) {
    return interop::scienceqa_dataset({.folder = setup.sqa_source,
                                       .image_size = setup.vit.image_size,
                                       .train = setup.sqa.train,
                                       .val = setup.sqa.val,
                                       .test = setup.sqa.test});
  }
  return data::cached_sqa(setup.sqa, setup.dataset_dir);
}

std::shared_ptr<nn::Llava> build_llava(const MultimodalSetup& s, Phase phase, const std::filesystem::path& adapted) {
  const MethodConfig& m = s.method;
  std::shared_ptr<nn::Llava> model;
  if (s.llava.imported()) {
    // A LLaVA's projector comes with it (align goes on from there); an
    // assembled one starts from a new projector, as LLaVA's stage 1 does.
    model = s.llava.from.empty() ? interop::assemble_llava(s.llava.llm_from, s.llava.vision_from, new_projector(s)).model
                                 : interop::load_llava(s.llava.from, s.llava.clip_from).model;
  } else {
    auto llm = std::make_shared<nn::Llama>(s.pre.model);
    llm->load_state_dict(s.llm_weights);
    auto vit = std::make_shared<vision::VisionTransformer>(s.vit);
    vit->load_state_dict(s.vit_weights);
    model = std::make_shared<nn::Llava>(vit, new_projector(s), llm);
    model->image_token_id = s.image_token_id;
  }
  nn::Llama* llm = &model->llm();

  const quant::PathFilter select = quant::path_pattern(m.layers);
  if (m.uniform_quant()) {
    const quant::QuantSpec spec{.bits = static_cast<int>(m.bits), .group_size = m.group_size};
    quant::quantize_linears(*llm, spec, select);
    if (m.weights == Weights::lwc) {  // min-max is the grid the layers start on
      const std::map<std::string, e::Tensor> grid = load_weights(s.lwc_weights);
      quant::for_each_quant(*llm, [&](const std::string& path, quant::QuantLinear& q) {
        QS_CHECK(grid.count(path + ".scale") && grid.count(path + ".zero"),
                 "{}: no calibrated grid for layer '{}' (calibrate.layers must cover method.layers)",
                 s.lwc_weights.string(), path);
        q.set_grid({grid.at(path + ".scale"), grid.at(path + ".zero")});
      });
    }
    if (m.scale_learning) quant::enable_scale_learning(*llm, m.start_layer);
  } else if (m.weights == Weights::nf4) {
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
    if (m.tuning == Tuning::lora) quant::add_lora(*llm, m.lora, quant::path_pattern("layers.0-.*_proj"));
  }
  model->to(e::dist::rank_device(s.llava.device));
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

}  // namespace qs::experiments
