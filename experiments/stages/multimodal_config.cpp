// The multimodal stages' config sections: method (presets and their fields),
// llava, sqa, and each stage's train settings.
#include "experiments/stages/multimodal.h"

#include <algorithm>

#include "engine/backend.h"
#include "quant/surgery.h"

namespace qs::experiments {

namespace e = qs::engine;

std::string MethodConfig::label() const {
  return fmt::format("{} ({} {}{}{})", name_of(preset, kPresets), name_of(weights, kWeights), name_of(tuning, kTunings),
                     scale_learning ? " +scales" : "", warmup ? " +warmup" : "");
}

MethodConfig read_method_config(ConfigSection& s) {
  MethodConfig c;
  c.preset = s.get_choice("preset", c.preset, kPresets);
  switch (c.preset) {
    case Preset::full: c.weights = Weights::fp, c.tuning = Tuning::full, c.scale_learning = false, c.warmup = false; break;
    case Preset::lora: c.weights = Weights::fp, c.scale_learning = false, c.warmup = false; break;
    case Preset::qlora: c.weights = Weights::nf4, c.scale_learning = false, c.warmup = false; break;
    case Preset::lwc_lora: c.weights = Weights::lwc, c.scale_learning = false, c.warmup = false; break;
    case Preset::qslaw: break;
  }
  c.weights = s.get_choice("weights", c.weights, kWeights);
  c.tuning = s.get_choice("tuning", c.tuning, kTunings);
  QS_CHECK(c.tuning == Tuning::lora || c.weights == Weights::fp,
           "config {}: full fine-tuning needs full-precision weights ('{}' is {}): quantized weights are frozen",
           s.file(), s.path_of("weights"), name_of(c.weights, kWeights));
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
           name_of(c.weights, kWeights));
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
  c.from = s.get<std::string>("from", "");
  c.clip_from = s.get<std::string>("clip_from", "");
  c.llm_from = s.get<std::string>("llm_from", "");
  c.vision_from = s.get<std::string>("vision_from", "");
  c.tokenizer = s.get<std::string>("tokenizer", "");
  QS_CHECK(c.from.empty() || c.llm_from.empty(), "config {}: give '{}' (a LLaVA) or '{}' (a LLaMA and a CLIP tower), not both",
           s.file(), s.path_of("from"), s.path_of("llm_from"));
  QS_CHECK(c.llm_from.empty() == c.vision_from.empty(), "config {}: '{}' and '{}' go together", s.file(),
           s.path_of("llm_from"), s.path_of("vision_from"));
  QS_CHECK(!c.from.empty() || c.clip_from.empty(), "config {}: '{}' goes with '{}'", s.file(), s.path_of("clip_from"),
           s.path_of("from"));
  QS_CHECK(c.imported() || c.tokenizer.empty(), "config {}: '{}' goes with an imported model ('{}' or '{}')", s.file(),
           s.path_of("tokenizer"), s.path_of("from"), s.path_of("llm_from"));
  for (auto [key, folder] : {std::pair{"from", &c.from}, {"clip_from", &c.clip_from}, {"llm_from", &c.llm_from},
                             {"vision_from", &c.vision_from}}) {
    QS_CHECK(folder->empty() || std::filesystem::exists(*folder / "config.json"),
             "config {}: '{}' is {}, which holds no config.json", s.file(), s.path_of(key), folder->string());
  }
  if (c.imported()) {
    if (c.tokenizer.empty()) c.tokenizer = (c.from.empty() ? c.llm_from : c.from) / "tokenizer.model";
    QS_CHECK(std::filesystem::is_regular_file(c.tokenizer), "config {}: no tokenizer at {} (set '{}')", s.file(),
             c.tokenizer.string(), s.path_of("tokenizer"));
  }
  c.device = s.get<std::string>("device", c.device);
  try {
    e::parse_device(c.device);
  } catch (const qs::Error& err) {
    fail("config {}: '{}': {}", s.file(), s.path_of("device"), err.what());
  }
  return c;
}

OutsideJson read_outside_json(ConfigSection& s) {
  OutsideJson o{s.get<std::string>("source", ""), s.get<std::string>("images", "")};
  QS_CHECK(o.source.empty() || std::filesystem::is_regular_file(o.source), "config {}: '{}' is {}, which is no file",
           s.file(), s.path_of("source"), o.source.string());
  QS_CHECK(o.images.empty() || !o.source.empty(), "config {}: '{}' goes with '{}'", s.file(), s.path_of("images"),
           s.path_of("source"));
  if (!o.source.empty() && o.images.empty()) o.images = o.source.parent_path();
  return o;
}

std::string outside_files_fingerprint(const YAML::Node& section, std::initializer_list<const char*> keys) {
  std::string out;
  for (const char* key : keys) {
    if (!section[key] || !section[key].IsScalar()) continue;
    const std::filesystem::path root = section[key].as<std::string>();
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    if (std::filesystem::is_directory(root, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
        if (entry.is_regular_file(ec)) files.push_back(entry.path());
      }
    } else {
      files.push_back(root);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const auto size = std::filesystem::file_size(f, ec);
      const auto time = std::filesystem::last_write_time(f, ec).time_since_epoch().count();
      out += fmt::format("{}:{}:{};", f.string(), ec ? 0 : size, ec ? 0 : time);
    }
  }
  return out;
}

data::SqaConfig read_sqa_config(ConfigSection& s, std::filesystem::path* source) {
  data::SqaConfig c;
  const std::filesystem::path folder = s.get<std::string>("source", "");
  QS_CHECK(folder.empty() || (std::filesystem::exists(folder / "problems.json") &&
                              std::filesystem::exists(folder / "pid_splits.json")),
           "config {}: '{}' is {}, which lacks ScienceQA's problems.json and pid_splits.json", s.file(),
           s.path_of("source"), folder.string());
  if (source) *source = folder;
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

}  // namespace qs::experiments
