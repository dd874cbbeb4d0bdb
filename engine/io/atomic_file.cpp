#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "engine/error.h"

namespace qs::engine {

std::filesystem::path unique_temp_path(const std::filesystem::path& path) {
  static std::atomic<uint64_t> counter{0};
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  return tmp;
}

void sync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  QS_CHECK(fd >= 0, "cannot open {} to sync it: {}", path.string(), std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot sync a folder (EINVAL); the data itself was synced.
  QS_CHECK(rc == 0 || (err == EINVAL && std::filesystem::is_directory(path)), "cannot sync {}: {}", path.string(),
           std::strerror(err));
}

void create_parent_folders(const std::filesystem::path& path) {
  if (!path.has_parent_path()) return;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  QS_CHECK(!ec, "cannot write {}: cannot create folder {}: {}", path.string(), path.parent_path().string(), ec.message());
}

void write_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  write_file_atomically(path, [&](const ByteSink& sink) { sink(contents); });
}

void write_file_atomically(const std::filesystem::path& path, const std::function<void(const ByteSink&)>& produce) {
  create_parent_folders(path);
  const std::filesystem::path tmp = unique_temp_path(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  QS_CHECK(fd >= 0, "cannot write {}: {}", path.string(), std::strerror(errno));
  int err = 0;
  auto sink = [&](std::string_view bytes) {
    std::size_t done = 0;
    while (err == 0 && done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
  };
  auto discard = [&] {
    ::close(fd);
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
  };
  try {
    produce(sink);
  } catch (...) {
    discard();
    throw;
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (err != 0) {
    discard();
    fail("writing {} failed: {}", path.string(), std::strerror(err));
  }
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    fail("cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
  }
}

}  // namespace qs::engine
