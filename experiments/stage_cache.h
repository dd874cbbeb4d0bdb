#pragma once
// The stage cache: runs/cache/<stage>/<key>/ holds one finished stage's
// outputs. Processes share it safely:
//  - one process at a time works on a key, under an flock on a file in
//    runs/cache/.locks/ (the kernel drops it when the process dies, so no
//    lock is ever stale);
//  - work happens in <key>.partial/ (a killed run resumes there) and is
//    published by one rename, after done.json, written last, has recorded
//    the SHA-256 of every file beside it;
//  - a reader checks every file against done.json before using any.
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/io/file_lock.h"

namespace qs::experiments {

struct CacheEntry {
  std::string stage;
  std::filesystem::path dir;      // the published outputs
  std::filesystem::path partial;  // work in progress (resume checkpoints)
  std::filesystem::path lock;
};
CacheEntry cache_entry(const std::filesystem::path& cache_root, const std::string& stage, const std::string& key);

// Whether a published entry exists (its done.json does).
bool is_published(const CacheEntry& entry);

// The results recorded in a published entry's done.json, after checking every
// file against its checksum; a mismatch, a missing or an extra file is an
// error naming it and the --force that recomputes it. An entry written before
// checksums existed gets them recorded now (`say` reports it).
nlohmann::json read_verified(const CacheEntry& entry, const std::function<void(const std::string&)>& say);

// Records the checksums of every file in entry.partial with the results in
// done.json, then renames entry.partial to entry.dir (replacing an old one).
void publish(const CacheEntry& entry, const nlohmann::json& results);

// Checks every published stage entry and every dataset file under a cache
// folder; returns "<entry>: <problem>" for each one that fails, in order.
// `checked` counts what was looked at.
std::vector<std::string> verify_cache(const std::filesystem::path& cache_root, int64_t* checked = nullptr);

}  // namespace qs::experiments
