#include "experiments/stage_cache.h"

#include <fstream>
#include <algorithm>
#include <map>

#include "data/file_cache.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/checksum.h"
#include "experiments/json_text.h"

namespace qs::experiments {

namespace {

// done.json's layout: {format, results, files: {relative path: sha256}}.
constexpr int kDoneFormat = 2;

std::map<std::string, std::string> checksums(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = std::filesystem::relative(e.path(), dir).generic_string();
    if (rel == "done.json") continue;
    out[rel] = engine::sha256_file(e.path());
  }
  return out;
}

nlohmann::json done_json(const nlohmann::json& results, const std::map<std::string, std::string>& files) {
  return {{"format", kDoneFormat}, {"results", results}, {"files", files}};
}

}  // namespace

CacheEntry cache_entry(const std::filesystem::path& cache_root, const std::string& stage, const std::string& key) {
  const std::filesystem::path base = cache_root / stage;
  return {stage, base / key, base / (key + ".partial"), cache_root / ".locks" / (stage + "-" + key)};
}

bool is_published(const CacheEntry& entry) { return std::filesystem::exists(entry.dir / "done.json"); }

nlohmann::json read_verified(const CacheEntry& entry, const std::function<void(const std::string&)>& say) {
  const std::filesystem::path done_path = entry.dir / "done.json";
  const std::string redo = fmt::format("--force {} recomputes it", entry.stage);
  nlohmann::json done;
  {
    std::ifstream in(done_path);
    QS_CHECK(in.good(), "cached {} outputs: cannot read {}", entry.stage, done_path.string());
    try {
      done = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      fail("cached {} outputs: {} is not valid JSON ({}); {}", entry.stage, done_path.string(), e.what(), redo);
    }
  }
  QS_CHECK(done.is_object(), "cached {} outputs: {} is not a JSON object; {}", entry.stage, done_path.string(), redo);
  const std::map<std::string, std::string> actual = checksums(entry.dir);
  if (!done.contains("format")) {
    // Written before done.json held checksums: record them once, from now on.
    say(fmt::format("[{}] recording checksums of a cache entry that predates them ({})", entry.stage, entry.dir.string()));
    engine::write_file_atomically(done_path, json_text(done_json(done, actual)));
    return done;
  }
  QS_CHECK(done["format"] == kDoneFormat && done.contains("results") && done.contains("files") && done["files"].is_object(),
           "cached {} outputs: {} has an unknown layout; {}", entry.stage, done_path.string(), redo);
  std::map<std::string, std::string> recorded;
  for (const auto& [file, sum] : done["files"].items()) {
    QS_CHECK(sum.is_string(), "cached {} outputs: {} lists '{}' without a checksum; {}", entry.stage, done_path.string(), file, redo);
    recorded[file] = sum.get<std::string>();
  }
  for (const auto& [file, sum] : recorded) {
    auto it = actual.find(file);
    QS_CHECK(it != actual.end(), "cached {} outputs: {} is missing; {}", entry.stage, (entry.dir / file).string(), redo);
    QS_CHECK(it->second == sum, "cached {} outputs: {} does not match its checksum in done.json (corrupt or edited); {}",
             entry.stage, (entry.dir / file).string(), redo);
  }
  for (const auto& [file, sum] : actual) {
    QS_CHECK(recorded.count(file), "cached {} outputs: {} is not listed in done.json; {}", entry.stage,
             (entry.dir / file).string(), redo);
  }
  return done["results"];
}

void publish(const CacheEntry& entry, const nlohmann::json& results) {
  engine::write_file_atomically(entry.partial / "done.json", json_text(done_json(results, checksums(entry.partial))));
  engine::sync_path(entry.partial);
  std::error_code ec;
  std::filesystem::remove_all(entry.dir, ec);
  QS_CHECK(!ec, "cannot replace the old cache entry {}: {}", entry.dir.string(), ec.message());
  std::filesystem::rename(entry.partial, entry.dir, ec);
  QS_CHECK(!ec, "cannot publish {} as {}: {}", entry.partial.string(), entry.dir.string(), ec.message());
  engine::sync_path(entry.dir.parent_path());
}


std::vector<std::string> verify_cache(const std::filesystem::path& cache_root, int64_t* checked) {
  QS_CHECK(std::filesystem::is_directory(cache_root), "no stage cache at {}", cache_root.string());
  std::vector<std::string> problems;
  int64_t count = 0;
  std::vector<std::filesystem::path> folders;
  for (const auto& e : std::filesystem::directory_iterator(cache_root)) {
    if (e.is_directory() && e.path().filename().string()[0] != '.') folders.push_back(e.path());
  }
  std::sort(folders.begin(), folders.end());
  for (const auto& folder : folders) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(folder)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    const std::string stage = folder.filename().string();
    for (const auto& path : files) {
      const std::string name = stage + "/" + path.filename().string();
      if (stage == "datasets") {
        if (path.extension() != ".h5") continue;
        ++count;
        if (std::string why = data::checksum_problem(path); !why.empty()) problems.push_back(name + ": " + why);
        continue;
      }
      if (!std::filesystem::is_directory(path) || path.extension() == ".partial") continue;
      ++count;
      const CacheEntry entry = cache_entry(cache_root, stage, path.filename().string());
      if (!is_published(entry)) {
        problems.push_back(name + ": no done.json (an unfinished stage from before caches were published by rename)");
        continue;
      }
      try {
        read_verified(entry, [](const std::string&) {});
      } catch (const Error& e) {
        problems.push_back(name + ": " + e.what());
      }
    }
  }
  if (checked) *checked = count;
  return problems;
}

}  // namespace qs::experiments
