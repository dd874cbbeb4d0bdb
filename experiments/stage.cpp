#include "experiments/stage.h"

namespace qs::experiments {

StageDef pretrain_llm_stage();
StageDef calibrate_stage();
StageDef pretrain_clip_stage();

const std::vector<StageDef>& stage_registry() {
  static const std::vector<StageDef> stages{pretrain_llm_stage(), pretrain_clip_stage(), calibrate_stage()};
  return stages;
}

const StageDef* find_stage(const std::string& name) {
  for (const StageDef& s : stage_registry()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace qs::experiments
