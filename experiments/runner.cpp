#include "experiments/runner.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <optional>
#include <set>

#include "engine/dist/process_group.h"
#include "engine/io/atomic_file.h"
#include "experiments/config.h"
#include "experiments/dist_json.h"
#include "experiments/stage.h"
#include "experiments/json_text.h"
#include "experiments/stage_cache.h"
#include "experiments/table.h"

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
constexpr const char* kCacheVersion = "2";  // 2: the corpus holds quizzes

struct Variant {
  std::string name;
  std::vector<std::string> overrides;  // the variant's `set`, then method.seed
  int64_t seed = 0;
  std::string dir;  // folder name inside the run directory
};

std::string flow_yaml(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

std::string slug(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '+';
    if (keep) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '_') out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "variant" : out;
}

// The variants of a `sweep:` section (one with the file's own settings when absent).
std::vector<Variant> read_sweep(const YAML::Node& root, const std::string& file) {
  const YAML::Node sweep = root["sweep"];
  if (!sweep || sweep.IsNull()) return {Variant{"", {}, -1, ""}};
  QS_CHECK(sweep.IsMap(), "config {}: 'sweep' must be a mapping with 'variants' and 'seeds'", file);
  for (auto it = sweep.begin(); it != sweep.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    QS_CHECK(key == "variants" || key == "seeds", "config {}: unknown key 'sweep.{}' (expected variants, seeds)", file, key);
  }
  std::vector<int64_t> seeds{0};
  if (sweep["seeds"]) {
    QS_CHECK(sweep["seeds"].IsSequence() && sweep["seeds"].size() > 0, "config {}: 'sweep.seeds' must be a non-empty list", file);
    seeds.clear();
    for (const auto& s : sweep["seeds"]) {
      try {
        seeds.push_back(s.as<int64_t>());
      } catch (const YAML::Exception&) {
        fail("config {}: 'sweep.seeds' must hold integers, got '{}'", file, s.Scalar());
      }
    }
  }
  const YAML::Node variants = sweep["variants"];
  QS_CHECK(variants && variants.IsSequence() && variants.size() > 0, "config {}: 'sweep.variants' must be a non-empty list", file);
  std::vector<Variant> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < variants.size(); ++i) {
    const YAML::Node v = variants[i];
    QS_CHECK(v.IsMap() && v["name"], "config {}: 'sweep.variants[{}]' needs a 'name'", file, i);
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string key = it->first.as<std::string>();
      QS_CHECK(key == "name" || key == "set", "config {}: unknown key 'sweep.variants[{}].{}' (expected name, set)", file, i, key);
    }
    const std::string name = v["name"].as<std::string>();
    QS_CHECK(names.insert(name).second, "config {}: two sweep variants are named '{}'", file, name);
    std::vector<std::string> sets;
    if (v["set"]) {
      QS_CHECK(v["set"].IsMap(), "config {}: 'sweep.variants[{}].set' must map key paths to values", file, i);
      for (auto it = v["set"].begin(); it != v["set"].end(); ++it) {
        sets.push_back(it->first.as<std::string>() + "=" + flow_yaml(it->second));
      }
    }
    out.push_back(Variant{name, sets, -1, slug(name)});
  }
  // Seed by seed, every variant: an interrupted sweep has whole tables of
  // the first seeds rather than every seed of the first variants.
  std::vector<Variant> runs;
  for (int64_t seed : seeds) {
    for (const Variant& v : out) {
      Variant var{v.name, v.overrides, seed, fmt::format("{}-s{}", v.dir, seed)};
      var.overrides.push_back(fmt::format("method.seed={}", seed));
      runs.push_back(std::move(var));
    }
  }
  return runs;
}

// The key path of an override ("a.b=1" -> "a.b").
std::string override_key(const std::string& text) { return text.substr(0, text.find('=')); }

// A sweep variant's `set` (and its seed) are applied after the command
// line's overrides and would silently replace one of the same key: refuse it.
void check_overrides_against_sweep(const std::vector<std::string>& overrides, const std::vector<Variant>& variants) {
  for (const std::string& o : overrides) {
    const std::string key = override_key(o);
    for (const Variant& v : variants) {
      for (const std::string& set : v.overrides) {
        const std::string other = override_key(set);
        const bool overlap = key == other || other.rfind(key + ".", 0) == 0 || key.rfind(other + ".", 0) == 0;
        QS_CHECK(!overlap, "override '{}': sweep variant '{}' sets '{}' itself{}; change the sweep instead", o, v.name, other,
                 other == "method.seed" ? " (from sweep.seeds)" : "");
      }
    }
  }
}

// A run's name becomes a folder under runs/: one plain path component.
void check_run_name(const std::string& name, const std::string& file) {
  const bool plain = !name.empty() && name.size() <= 100 && name[0] != '.' &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '+';
                     });
  QS_CHECK(plain, "config {}: 'name' must be 1-100 letters, digits, '_', '-', '+' or '.' (not first), got '{}'", file,
           name.size() > 120 ? name.substr(0, 120) + "..." : name);
}

// Checks every key of the experiment before any work starts; returns the stages.
std::vector<std::string> validate(const YAML::Node& root, const std::string& file) {
  ConfigSection top(root, "", file);
  check_run_name(top.require<std::string>("name"), file);
  top.get<uint64_t>("seed", 0);
  top.get<std::string>("description", "");
  top.get<std::string>("profile", "");
  if (root["sweep"]) top.section("sweep");
  const auto stages = top.require<std::vector<std::string>>("stages");
  QS_CHECK(!stages.empty(), "config {}: 'stages' lists no stage", file);
  std::set<std::string> registered, reads;
  for (const StageDef& s : stage_registry()) registered.insert(s.name);
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
    reads.insert(def->reads.begin(), def->reads.end());
  }
  // Sections of known stages that this experiment does not run (inherited
  // from an included file) are still checked, so a typo there is caught too.
  for (const StageDef& def : stage_registry()) {
    if (!root[def.name] || std::find(stages.begin(), stages.end(), def.name) != stages.end()) continue;
    ConfigSection section = top.section(def.name);
    def.validate(section);
    section.finish();
  }
  for (const SharedSectionDef& shared : shared_sections()) {
    if (!reads.count(shared.name)) continue;
    ConfigSection section = top.section(shared.name);
    shared.validate(section);
    section.finish();
  }
  top.finish();
  return stages;
}

// Runs the stages of one resolved experiment, reusing cached stage outputs.
// With several processes every rank runs every stage that is not cached (the
// training stages split each batch across ranks); rank 0 alone looks the
// cache up, holds its lock and publishes, and the others wait for it.
nlohmann::json run_pipeline(const YAML::Node& root, const std::vector<std::string>& stages, const std::string& file,
                            const RunOptions& options, RunLog& log) {
  const uint64_t seed = root["seed"] ? root["seed"].as<uint64_t>() : 0;
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
  nlohmann::json all;
  std::map<std::string, std::filesystem::path> upstream;
  // Per finished stage: its cache key, and the upstream text its key was built from.
  std::vector<std::pair<std::string, std::string>> done_keys;
  std::map<std::string, std::string> inputs_of;
  for (std::size_t index = 0; index < stages.size(); ++index) {
    const std::string& s = stages[index];
    const bool force = index >= first_forced;
    const StageDef* def = find_stage(s);
    YAML::Node section = root[s] ? root[s] : YAML::Node(YAML::NodeType::Map);
    std::string upstream_keys;
    for (const auto& [u, u_key] : done_keys) {
      auto part = def->uses_part_of.find(u);
      if (part == def->uses_part_of.end()) {
        upstream_keys += u + ":" + u_key + ";";
        continue;
      }
      std::string used;
      for (const std::string& k : part->second) used += k + "=" + (root[u] && root[u][k] ? to_yaml(root[u][k]) : std::string("~")) + ";";
      const std::string part_text = fmt::format("{}|{}|{}|{}|{}", kCacheVersion, u, seed, used, inputs_of[u]);
      upstream_keys += fmt::format("{}[{}]:{:016x};", u, fmt::join(part->second, ","), fnv1a(part_text));
    }
    std::string shared;
    for (const std::string& r : def->reads) {
      shared += r + "=" + (root[r] ? to_yaml(root[r]) : std::string("~")) + ";";
      for (const SharedSectionDef& d : shared_sections()) {
        // Nothing is added without outside files: existing cache keys stay valid.
        if (d.name != r || !d.fingerprint || !root[r]) continue;
        if (const std::string f = d.fingerprint(root[r]); !f.empty()) shared += f + ";";
      }
    }
    if (def->fingerprint) {
      if (const std::string f = def->fingerprint(section); !f.empty()) shared += s + "<-" + f + ";";
    }
    const std::string key_text = fmt::format("{}|{}|{}|{}|{}|{}", kCacheVersion, s, seed, to_yaml(section), upstream_keys, shared);
    const std::string key = fmt::format("{:016x}", fnv1a(key_text));
    const CacheEntry entry = cache_entry(options.runs_root / "cache", s, key);
    const auto say = [&log](const std::string& line) { log.line(line); };
    engine::dist::ProcessGroup& group = engine::dist::world();
    const bool writer = group.rank() == 0;
    // Held while this stage is looked up or computed: a second process on the
    // same cache waits here, then reuses what the first one published.
    std::optional<engine::FileLock> lock;
    if (writer) lock.emplace(entry.lock, [&](const std::string& why) { log.line(fmt::format("[{}] {}", s, why)); });
    nlohmann::json results;
    std::string cached;  // rank 0's results of a cached stage, as text
    if (writer && is_published(entry) && !force) {
      results = read_verified(entry, say);
      cached = json_text(results);
      log.line(fmt::format("[{}] reusing cached outputs in {} (--force {} recomputes)", s, entry.dir.string(), s));
    }
    cached = broadcast_text(group, cached);
    if (!writer && !cached.empty()) results = nlohmann::json::parse(cached);
    if (cached.empty()) {
      std::error_code ec;
      if (writer) {
        if (force) std::filesystem::remove_all(entry.partial, ec);
        // A run killed before caches were published by rename left its
        // checkpoints in the entry's own folder: resume from them.
        if (!std::filesystem::exists(entry.partial) && std::filesystem::exists(entry.dir) && !is_published(entry)) {
          std::filesystem::rename(entry.dir, entry.partial, ec);
        }
        std::filesystem::create_directories(entry.partial);
        // A killed run's half-written temporaries; its finished files stay (resume).
        for (const auto& f : std::filesystem::directory_iterator(entry.partial)) {
          if (f.path().filename().string().find(".tmp.") != std::string::npos) std::filesystem::remove(f.path(), ec);
        }
        log.line(fmt::format("[{}] {} (outputs: {})", s, def->summary, entry.dir.string()));
      }
      // The other ranks write beside it, into a folder of their own that is
      // dropped afterwards (same parent: the dataset cache is found from it).
      const std::filesystem::path scratch = entry.dir.string() + fmt::format(".rank{}", group.rank());
      if (!writer) {
        std::filesystem::remove_all(scratch, ec);
        std::filesystem::create_directories(scratch);
      }
      group.barrier();  // rank 0's partial folder is ready to be read
      StageContext ctx{s, ConfigSection(section, s, file), seed, writer ? entry.partial : scratch, upstream, &log, root,
                       file, all, entry.partial};
      results = def->run(ctx);
      if (writer) publish(entry, results);
      else std::filesystem::remove_all(scratch, ec);
      group.barrier();  // published before any rank reads it downstream
    }
    const std::filesystem::path artifacts = entry.dir;
    all[s] = results;
    upstream[s] = artifacts;
    done_keys.emplace_back(s, key);
    inputs_of[s] = upstream_keys;
  }
  return all;
}

// A fresh folder per run; create_directory claims a name atomically, so two
// runs started in the same second get two folders.
std::filesystem::path new_run_dir(const std::filesystem::path& root, const std::string& name) {
  const std::string id = run_id();
  std::filesystem::create_directories(root / name);
  std::filesystem::path dir = root / name / id;
  for (int i = 1; !std::filesystem::create_directory(dir); ++i) dir = root / name / (id + "-" + std::to_string(i));
  return dir;
}

}  // namespace

namespace {

// An experiment with every sweep variant loaded and validated.
struct Resolved {
  ExperimentFile exp;
  std::vector<Variant> variants;
  std::vector<YAML::Node> roots;
  std::vector<std::vector<std::string>> stage_lists;
};

Resolved resolve(const std::filesystem::path& config_path, const std::vector<std::string>& overrides) {
  const std::string file = config_path.string();
  try {
    Resolved r{load_experiment(config_path, overrides), {}, {}, {}};
    r.variants = read_sweep(r.exp.root, file);
    check_overrides_against_sweep(overrides, r.variants);
    for (const Variant& v : r.variants) {
      std::vector<std::string> all = overrides;
      all.insert(all.end(), v.overrides.begin(), v.overrides.end());
      YAML::Node root = v.name.empty() ? r.exp.root : load_experiment(config_path, all).root;
      try {
        r.stage_lists.push_back(validate(root, file));
      } catch (const Error& e) {
        if (v.name.empty()) throw;
        fail("sweep variant '{}': {}", v.name, e.what());
      }
      r.roots.push_back(root);
    }
    return r;
  } catch (const YAML::Exception& e) {
    // A node of the wrong kind where a key, name or list was expected.
    fail("config {}: {}", file, e.what());
  }
}

}  // namespace

int64_t check_experiment(const std::filesystem::path& config_path, const std::vector<std::string>& overrides) {
  return static_cast<int64_t>(resolve(config_path, overrides).variants.size());
}

RunSummary run_experiment(const std::filesystem::path& config_path, const RunOptions& options) {
  const std::string file = config_path.string();
  // Resolve and validate every variant before any work starts.
  Resolved resolved = resolve(config_path, options.overrides);
  const ExperimentFile& exp = resolved.exp;
  const std::vector<Variant>& variants = resolved.variants;
  const std::vector<YAML::Node>& roots = resolved.roots;
  const std::vector<std::vector<std::string>>& stage_lists = resolved.stage_lists;
  const std::string name = exp.root["name"].as<std::string>();
  // With several processes rank 0 alone writes the run folder and prints.
  const bool writer = engine::dist::world().rank() == 0;
  RunSummary summary;
  if (writer) {
    summary.run_dir = new_run_dir(options.runs_root, name);
    engine::write_file_atomically(summary.run_dir / "config.yaml", to_yaml(exp.root) + "\n");
  }
  RunLog log = writer ? RunLog(summary.run_dir, options.progress) : RunLog::silent();
  log.line(fmt::format("qslaw run {} -> {}{}", file, summary.run_dir.string(),
                       engine::dist::world().size() > 1 ? fmt::format(" ({} processes)", engine::dist::world().size()) : ""));

  if (variants.size() == 1 && variants[0].name.empty()) {
    summary.results = run_pipeline(exp.root, stage_lists[0], file, options, log);
  } else {
    nlohmann::json index = nlohmann::json::array();
    for (std::size_t i = 0; i < variants.size(); ++i) {
      const Variant& v = variants[i];
      const std::filesystem::path dir = summary.run_dir / v.dir;
      log.line(fmt::format("== variant {} / {}: {} (seed {}) -> {}", i + 1, variants.size(), v.name, v.seed, dir.string()));
      if (writer) {
        std::filesystem::create_directories(dir);
        engine::write_file_atomically(dir / "config.yaml", to_yaml(roots[i]) + "\n");
      }
      RunLog vlog = writer ? RunLog(dir, options.progress) : RunLog::silent();
      nlohmann::json results;
      try {
        results = run_pipeline(roots[i], stage_lists[i], file, options, vlog);
      } catch (const Error& e) {
        fail("sweep variant '{}' (seed {}): {}", v.name, v.seed, e.what());
      }
      summary.results[v.dir] = results;
      index.push_back({{"name", v.name}, {"seed", v.seed}, {"dir", v.dir}});
      if (!writer) continue;
      engine::write_file_atomically(dir / "results.json", json_text(results));
      // After every variant: `qslaw table` reads an interrupted sweep's finished runs.
      engine::write_file_atomically(summary.run_dir / "sweep.json", json_text(index));
    }
    if (writer) {
      summary.table = write_sweep_report(summary.run_dir);
      log.line(summary.table);
    }
  }
  if (writer) {
    engine::write_file_atomically(summary.run_dir / "results.json", json_text(summary.results));
    log.line(fmt::format("results: {}", (summary.run_dir / "results.json").string()));
  }
  return summary;
}

}  // namespace qs::experiments
