#include "experiments/runner.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <set>

#include "engine/io/atomic_file.h"
#include "experiments/config.h"
#include "experiments/stage.h"

namespace qs::experiments {

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string run_id() {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&now));
  return buf;
}

// Bumped when a stage's outputs change meaning, so old caches are not reused.
constexpr const char* kCacheVersion = "1";

}  // namespace

RunSummary run_experiment(const std::filesystem::path& config_path, const RunOptions& options) {
  ExperimentFile exp = load_experiment(config_path, options.overrides);
  const std::string file = config_path.string();
  ConfigSection top(exp.root, "", file);
  const std::string name = top.require<std::string>("name");
  const uint64_t seed = top.get<uint64_t>("seed", 0);
  top.get<std::string>("description", "");
  top.get<std::string>("profile", "");
  const auto stages = top.require<std::vector<std::string>>("stages");
  QS_CHECK(!stages.empty(), "config {}: 'stages' lists no stage", file);
  std::set<std::string> registered;
  for (const StageDef& s : stage_registry()) registered.insert(s.name);
  // Validate everything before any work starts.
  for (const std::string& s : stages) {
    const StageDef* def = find_stage(s);
    if (!def) {
      std::string hint = closest(s, registered);
      fail("config {}: unknown stage '{}' in 'stages'{}", file, s,
           hint.empty() ? fmt::format(" (known: {})", fmt::join(registered, ", "))
                        : fmt::format(" (did you mean '{}'?)", hint));
    }
    ConfigSection section = top.section(s);
    def->validate(section);
    section.finish();
  }
  top.finish();

  RunSummary summary;
  summary.run_dir = options.runs_root / name / run_id();
  for (int i = 1; std::filesystem::exists(summary.run_dir); ++i) {
    summary.run_dir = options.runs_root / name / (run_id() + "-" + std::to_string(i));
  }
  std::filesystem::create_directories(summary.run_dir);
  engine::write_file_atomically(summary.run_dir / "config.yaml", to_yaml(exp.root) + "\n");
  RunLog log(summary.run_dir, options.progress);
  log.line(fmt::format("qslaw run {} -> {}", file, summary.run_dir.string()));

  // The first stage to recompute; everything after it depends on it.
  std::size_t first_forced = stages.size();
  for (const std::string& f : options.force) {
    if (f == "all") {
      first_forced = 0;
      continue;
    }
    auto it = std::find(stages.begin(), stages.end(), f);
    QS_CHECK(it != stages.end(), "--force {}: not a stage of {} (stages: {})", f, file, fmt::join(stages, ", "));
    first_forced = std::min(first_forced, static_cast<std::size_t>(it - stages.begin()));
  }

  std::map<std::string, std::filesystem::path> upstream;
  std::string upstream_keys;
  for (std::size_t index = 0; index < stages.size(); ++index) {
    const std::string& s = stages[index];
    const bool force = index >= first_forced;
    const StageDef* def = find_stage(s);
    YAML::Node section = exp.root[s] ? exp.root[s] : YAML::Node(YAML::NodeType::Map);
    const std::string key_text = fmt::format("{}|{}|{}|{}|{}", kCacheVersion, s, seed,
                                             to_yaml(section), upstream_keys);
    const std::string key = fmt::format("{:016x}", fnv1a(key_text));
    const std::filesystem::path artifacts = options.runs_root / "cache" / s / key;
    const std::filesystem::path done = artifacts / "done.json";
    nlohmann::json results;
    if (std::filesystem::exists(done) && !force) {
      std::ifstream in(done);
      results = nlohmann::json::parse(in);
      log.line(fmt::format("[{}] reusing cached outputs in {} (--force {} recomputes)", s, artifacts.string(), s));
    } else {
      if (force && std::filesystem::exists(artifacts)) std::filesystem::remove_all(artifacts);
      std::filesystem::create_directories(artifacts);
      log.line(fmt::format("[{}] {} (outputs: {})", s, def->summary, artifacts.string()));
      StageContext ctx{s, ConfigSection(section, s, file), seed, artifacts, upstream, &log, exp.root, file};
      results = def->run(ctx);
      engine::write_file_atomically(done, results.dump(2) + "\n");
    }
    summary.results[s] = results;
    upstream[s] = artifacts;
    upstream_keys += s + ":" + key + ";";
  }
  engine::write_file_atomically(summary.run_dir / "results.json", summary.results.dump(2) + "\n");
  log.line(fmt::format("results: {}", (summary.run_dir / "results.json").string()));
  return summary;
}

}  // namespace qs::experiments
