#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::experiments {

struct RunOptions {
  std::filesystem::path runs_root = "runs";
  std::vector<std::string> overrides;  // key.path=value
  bool force = false;                  // recompute stages even when cached
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
