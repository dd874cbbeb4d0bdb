#pragma once
#include <filesystem>
#include <functional>
#include <string>

namespace qs::engine {

// Holds an exclusive flock on a file until destroyed: processes sharing a
// cache take turns on one key. The kernel drops the lock when its process
// dies, so a crashed run never leaves a stale lock behind. When another
// process holds it, `on_wait` is told (with that process's pid) before this
// one blocks.
class FileLock {
 public:
  FileLock(const std::filesystem::path& path, const std::function<void(const std::string&)>& on_wait);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace qs::engine
