#pragma once
// Stages are registered by name; an experiment lists the stages it runs.
// Each stage validates its config section before any stage runs, and its
// outputs live in an artifact directory keyed by its resolved inputs.
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiments/config.h"
#include "experiments/metrics.h"

namespace qs::experiments {

struct StageContext {
  std::string stage;
  ConfigSection config;  // this stage's section
  uint64_t seed = 0;
  std::filesystem::path artifacts;  // this stage's outputs (and resume checkpoints)
  std::map<std::string, std::filesystem::path> upstream;  // earlier stages' artifacts
  RunLog* log = nullptr;
  YAML::Node experiment;  // the whole resolved config: upstream stages' settings
  std::string file;       // the experiment file, for messages
  nlohmann::json upstream_results = nlohmann::json::object();  // earlier stages' results, by stage
  // Resume checkpoints. With several processes (engine/dist) rank 0 writes
  // `artifacts` and the others a scratch folder, but every rank reads the
  // checkpoints rank 0 keeps here; in one process it is `artifacts`.
  std::filesystem::path checkpoints;
};

struct StageDef {
  std::string name;
  std::string summary;
  // Reads every key of the section (types, ranges); throws on a bad config.
  std::function<void(ConfigSection&)> validate;
  // Does the work, writes artifacts, returns the results to report.
  std::function<nlohmann::json(StageContext&)> run;
  // Top-level sections besides its own that the stage reads (e.g. `method`):
  // they enter its cache key, and are validated once before any stage runs.
  std::vector<std::string> reads = {};
  // Upstream stages of which this stage uses one output only, with the keys of
  // their sections that output depends on: those keys, not the upstream's
  // whole cache key, enter this stage's key (pretrain_clip reads pretrain_llm's
  // tokenizer, so a longer LLM pretraining must not retrain the ViT).
  std::map<std::string, std::vector<std::string>> uses_part_of = {};
  // Files outside the config that its own section names: their fingerprint
  // joins its cache key (as SharedSectionDef::fingerprint). May be empty.
  std::function<std::string(const YAML::Node& section)> fingerprint = {};
};

// A top-level section shared by several stages, with its validator.
struct SharedSectionDef {
  std::string name;
  std::function<void(ConfigSection&)> validate;
  // Files outside the config that the section names (an imported
  // checkpoint): a fingerprint of them (sizes and modification times) joins
  // the cache key of every stage reading the section, so replacing the files
  // recomputes. May be empty.
  std::function<std::string(const YAML::Node& section)> fingerprint = {};
};
const std::vector<SharedSectionDef>& shared_sections();

const std::vector<StageDef>& stage_registry();
const StageDef* find_stage(const std::string& name);

}  // namespace qs::experiments
