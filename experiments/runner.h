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
  nlohmann::json results;  // per stage, or per sweep variant (folder name) and stage
  std::string table;       // a sweep's table (Markdown), also in table.md
};

// Loads and validates the whole experiment, then runs its stages in order,
// reusing cached stage outputs whose inputs are unchanged. Writes
// runs/<name>/<run-id>/{config.yaml, metrics.jsonl, log.txt, results.json}.
// With a `sweep:` section every variant and seed runs in its own folder
// <run-id>/<variant>-s<seed>/ (with its config, metrics and results), and the
// run folder gets sweep.json, the table (table.md, table.csv) and plots.
RunSummary run_experiment(const std::filesystem::path& config, const RunOptions& options);

// Loads and validates an experiment and each of its sweep variants without
// running anything; returns the number of runs (variants x seeds, or 1).
int64_t check_experiment(const std::filesystem::path& config, const std::vector<std::string>& overrides = {});

}  // namespace qs::experiments
