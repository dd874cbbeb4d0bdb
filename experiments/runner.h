#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::experiments {

struct RunOptions {
  std::filesystem::path runs_root = "runs";
  std::vector<std::string> overrides;  // key.path=value
  // Stages to recompute even when cached: each named stage and every stage
  // after it (they depend on it). Earlier stages keep their cached outputs.
  // "all" recomputes everything.
  std::vector<std::string> force;
  bool progress = true;
};

struct RunSummary {
  std::filesystem::path run_dir;
  nlohmann::json results;  // per stage
};

// Loads and validates the whole experiment, then runs its stages in order,
// reusing cached stage outputs whose inputs are unchanged. Writes
// runs/<name>/<run-id>/{config.yaml, metrics.jsonl, log.txt, results.json}.
RunSummary run_experiment(const std::filesystem::path& config, const RunOptions& options);

}  // namespace qs::experiments
