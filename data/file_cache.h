#pragma once
// Files derived deterministically from their name (the dataset caches): one
// process makes a missing file while others wait for it, and a file is reused
// only when it matches the SHA-256 recorded beside it (<file>.sha256);
// otherwise (corrupt, edited, unreadable, or older than checksums) it is made
// again, which is always safe for derived data.
#include <fmt/core.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/checksum.h"
#include "engine/io/file_lock.h"

namespace qs::data {

// Where a cached file's SHA-256 is recorded.
inline std::filesystem::path checksum_path(std::filesystem::path path) { return path += ".sha256"; }

// Why a cached file cannot be trusted ("" when its recorded checksum matches).
inline std::string checksum_problem(const std::filesystem::path& path) {
  std::string recorded;
  std::ifstream(checksum_path(path)) >> recorded;
  if (recorded.empty()) return "has no recorded checksum";
  if (recorded != engine::sha256_file(path)) return "does not match its recorded checksum";
  return "";
}

template <class Make, class Save, class Load>
auto cached_file(const std::filesystem::path& path, Make make, Save save, Load load) -> decltype(make()) {
  engine::FileLock lock(path.parent_path() / ".locks" / path.filename(),
                        [](const std::string& why) { fmt::print(stderr, "qslaw: {}\n", why); });
  if (std::filesystem::exists(path)) {
    std::string problem = checksum_problem(path);
    if (problem.empty()) {
      try {
        return load(path);
      } catch (const Error& e) {
        problem = fmt::format("is unreadable ({})", e.what());
      }
    }
    fmt::print(stderr, "qslaw: cached {} {}: making it again\n", path.string(), problem);
  }
  auto made = make();
  save(path, made);
  engine::write_file_atomically(checksum_path(path), engine::sha256_file(path) + "\n");
  return made;
}

}  // namespace qs::data
