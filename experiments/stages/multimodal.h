#pragma once
// What the multimodal stages (align, warmup, instruct, evaluate) share: the
// `method` section (how the LLM is quantized and tuned), the `llava` and
// `sqa` sections, the model rebuilt from upstream artifacts for each phase,
// batches of conversations with their images, and the training loop.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <array>
#include <string>
#include <vector>

#include "data/conversation.h"
#include "data/sqa.h"
#include "data/tokenizer.h"
#include "experiments/stage.h"
#include "experiments/stages/pipeline_tokens.h"
#include "experiments/stages/pretrain_config.h"
#include "nn/lora.h"
#include "nn/models/llava.h"
#include "nn/optim/optimizer.h"
#include "vision/vit.h"

namespace qs::experiments {

// The `method` section. A preset fills every field; keys given next to it
// override single fields (the component ablation is built that way).
//   full      FP weights, full fine-tuning
//   lora      FP weights + LoRA
//   qlora     NF4 (double quantized) + LoRA
//   lwc_lora  4-bit LWC-calibrated + LoRA
//   qslaw     4-bit LWC + scale learning (align and warmup) + LoRA
enum class Preset { full, lora, qlora, lwc_lora, qslaw };
enum class Weights { fp, minmax, nf4, lwc };
enum class Tuning { full, lora };
// Parse tables: the names configs use.
inline constexpr std::array<std::pair<const char*, Preset>, 5> kPresets{
    {{"full", Preset::full}, {"lora", Preset::lora}, {"qlora", Preset::qlora}, {"lwc_lora", Preset::lwc_lora},
     {"qslaw", Preset::qslaw}}};
inline constexpr std::array<std::pair<const char*, Weights>, 4> kWeights{
    {{"fp", Weights::fp}, {"minmax", Weights::minmax}, {"nf4", Weights::nf4}, {"lwc", Weights::lwc}}};
inline constexpr std::array<std::pair<const char*, Tuning>, 2> kTunings{{{"full", Tuning::full}, {"lora", Tuning::lora}}};
// The config name of a value.
template <class E, std::size_t N>
const char* name_of(E value, const std::array<std::pair<const char*, E>, N>& table) {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return "?";
}

struct MethodConfig {
  Preset preset = Preset::qslaw;
  Weights weights = Weights::lwc;
  Tuning tuning = Tuning::lora;
  int64_t bits = 4, group_size = 64;
  std::string layers = "layers.0-.*_proj";  // the linears that are quantized
  bool scale_learning = true;
  // Blocks with index > start_layer learn alpha (METHOD.md, the official
  // comparison); -1: every block.
  int64_t start_layer = 0;
  bool warmup = true;
  nn::LoraConfig lora{.rank = 16, .alpha = 32.0, .dropout = 0.05};
  int64_t nf4_block = 64;
  bool nf4_double_quant = true;
  uint64_t seed = 0;  // the tuning seed (a sweep's seeds); upstream stages use the top-level seed

  bool uniform_quant() const { return weights == Weights::minmax || weights == Weights::lwc; }
  std::string label() const;
};
MethodConfig read_method_config(ConfigSection& s);

struct LlavaSettings {
  std::string projector = "mlp2x_gelu";  // or linear
  int64_t max_len = 256;                 // tokens per sample, image tokens included
  std::string system_prompt = data::kSystemPrompt;  // of the v1 template
  data::AnswerFormat answer_format = data::AnswerFormat::letter;
  data::AnswerTarget target = data::AnswerTarget::answer;  // or lea (the official QCM-LEA)
  // Where the multimodal stages (align, warmup, instruct, evaluate, outliers)
  // run the model: cpu, cuda or cuda:N. Pretraining and calibration stay on
  // the CPU.
  std::string device = "cpu";
  // An imported LLaVA checkpoint (interop/hf_llava.h) instead of the models
  // pretrain_llm and pretrain_clip build: llava-hf's folder, or the original
  // layout's with its CLIP tower in clip_from; or, before any projector was
  // trained, a LLaMA (Vicuna) in llm_from and a CLIP tower in vision_from
  // with a new projector of type `projector`. tokenizer.model from the LLM's
  // folder unless `tokenizer` names one.
  std::filesystem::path from, clip_from, llm_from, vision_from, tokenizer;
  bool imported() const { return !from.empty() || !llm_from.empty(); }
};
LlavaSettings read_llava_settings(ConfigSection& s);
// The sizes and modification times of the files a section names under
// `keys` (a folder: the files in it), for SharedSectionDef::fingerprint.
std::string outside_files_fingerprint(const YAML::Node& section, std::initializer_list<const char*> keys);
// A stage's LLaVA-JSON data from outside: `source` (a file; empty: the
// testbed's own data) and `images`, the folder its image paths are relative
// to (default: the JSON's folder; only with a source).
struct OutsideJson {
  std::filesystem::path source, images;
};
OutsideJson read_outside_json(ConfigSection& s);

// SynthSQA's generation settings; `source` (may be null) receives sqa.source,
// a ScienceQA folder that replaces SynthSQA (interop/scienceqa_data.h).
data::SqaConfig read_sqa_config(ConfigSection& s, std::filesystem::path* source = nullptr);

// Optimisation settings of one training stage (its `train:` subsection).
struct StageTrain {
  int64_t steps = 100, batch_size = 16, log_every = 10;
  double lr = 1e-3;
  double projector_lr = -1;  // < 0: lr
  double warmup_ratio = 0.03, min_lr_ratio = 0.0, weight_decay = 0.0, grad_clip = 1.0;
};
StageTrain read_stage_train(ConfigSection s, StageTrain defaults);

// Everything the multimodal stages rebuild from upstream stages and shared sections.
struct MultimodalSetup {
  // The corpus, sequence length and (unless imported) the LLM's config.
  PretrainConfig pre;
  PipelineTokens tok;
  int64_t image_token_id = data::Tokenizer::kImage;
  std::map<std::string, engine::Tensor> llm_weights;  // empty when imported
  vision::VitConfig vit;
  std::map<std::string, engine::Tensor> vit_weights;  // empty when imported
  MethodConfig method;
  LlavaSettings llava;
  data::SqaConfig sqa;
  std::filesystem::path sqa_source;  // ScienceQA's folder instead of SynthSQA; empty: SynthSQA
  std::filesystem::path lwc_weights;  // calibrate's packed LWC model (weights: lwc)
  std::filesystem::path dataset_dir;  // runs/cache/datasets
  int64_t image_tokens() const { return vit.patches() + (vit.select_class_token ? 1 : 0); }
};
MultimodalSetup load_setup(StageContext& ctx);
// SynthSQA of the experiment, generated once into the dataset cache; or the
// first sqa.train/val/test problems of ScienceQA's folder (sqa.source).
data::SqaDataset load_sqa_data(const MultimodalSetup& setup);

enum class Phase {
  adapt,  // align, warmup: fake-quantized LLM, alpha trainable with scale learning
  tune,   // instruct, evaluate: alpha folded into packed codes, LoRA (or full)
};

// The model of a phase, every parameter frozen. `adapted` (may be empty):
// a folder with projector.h5 and, with scale learning, alpha.h5.
std::shared_ptr<nn::Llava> build_llava(const MultimodalSetup& setup, Phase phase, const std::filesystem::path& adapted);

void save_adapted(const std::filesystem::path& dir, nn::Llava& model);

// A conversation sample with its image (u8 (H, W, 3)) when it has one.
struct Sample {
  data::Encoded encoded;
  engine::Tensor image;
};
data::Conversation sqa_conversation(const data::SqaQuestion& q, const LlavaSettings& llava);
Sample sqa_sample(const data::SqaSplit& split, int64_t index, const MultimodalSetup& setup);
engine::Tensor split_image(const data::SqaSplit& split, int64_t index);  // u8 (H, W, 3) or undefined

struct ModelBatch {
  data::Batch batch;
  engine::Tensor images;  // f32 (images, 3, H, W), normalised; undefined when none
};
ModelBatch make_batch(const std::vector<Sample>& samples);
// u8 (H, W, 3) images -> f32 (N, 3, H, W), normalised as the ViT was trained.
engine::Tensor normalized_images(const std::vector<engine::Tensor>& images);

// Index k of an endless shuffled stream over n items (a new permutation per epoch).
class EpochSampler {
 public:
  EpochSampler(int64_t n, uint64_t seed) : n_(n), seed_(seed) {}
  int64_t at(int64_t k);

 private:
  int64_t n_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> perm_;
};

struct TrainStats {
  double final_loss = 0.0, seconds = 0.0, tokens_per_second = 0.0, peak_memory_mb = 0.0;
  int64_t tokens = 0, trainable_params = 0;
  std::vector<std::pair<int64_t, double>> curve;  // (step, mean loss) at each log interval
};

// AdamW with the warmup-cosine schedule on the given groups; the loss is
// next-token cross-entropy on the batch's unmasked targets. `next_samples`
// gives step's global batch; with several processes (engine/dist) every rank
// draws it and trains on its share, gradients averaged as one process would
// (nn/data_parallel.h). `on_step` (may be empty) runs after each step, for
// stage-specific logging.
TrainStats train_llava(nn::Llava& model, std::vector<nn::ParamGroup> groups, const StageTrain& config,
                       const std::function<std::vector<Sample>(int64_t step)>& next_samples, RunLog& log,
                       const std::string& stage, const std::function<void(int64_t step)>& on_step = {});

// The trainable groups of align and warmup: the projector at projector_lr and
// every alpha (when scale learning is on) at lr; unfreezes both first.
std::vector<nn::ParamGroup> adapt_groups(nn::Llava& model, const StageTrain& train);

// Parameters that require grad, as a named group.
nn::ParamGroup trainable_group(const std::string& name, nn::Module& module, const std::string& prefix, double lr,
                               double weight_decay);

}  // namespace qs::experiments
