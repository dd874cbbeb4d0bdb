#include "experiments/stage.h"

#include "experiments/stages/multimodal.h"

namespace qs::experiments {

StageDef pretrain_llm_stage();
StageDef calibrate_stage();
StageDef pretrain_clip_stage();
StageDef align_stage();
StageDef warmup_stage();
StageDef instruct_stage();
StageDef evaluate_stage();
StageDef outliers_stage();

const std::vector<StageDef>& stage_registry() {
  static const std::vector<StageDef> stages{pretrain_llm_stage(), pretrain_clip_stage(), calibrate_stage(),
                                            align_stage(),        warmup_stage(),        instruct_stage(),
                                            evaluate_stage(),     outliers_stage()};
  return stages;
}

const std::vector<SharedSectionDef>& shared_sections() {
  static const std::vector<SharedSectionDef> sections{
      {"method", [](ConfigSection& s) { read_method_config(s); }},
      {"llava", [](ConfigSection& s) { read_llava_settings(s); },
       [](const YAML::Node& n) { return outside_files_fingerprint(n, {"from", "clip_from", "llm_from", "vision_from", "tokenizer"}); }},
      {"sqa", [](ConfigSection& s) { read_sqa_config(s); },
       [](const YAML::Node& n) { return outside_files_fingerprint(n, {"source"}); }},
  };
  return sections;
}

const StageDef* find_stage(const std::string& name) {
  for (const StageDef& s : stage_registry()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace qs::experiments
