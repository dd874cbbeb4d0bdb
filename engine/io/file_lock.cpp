#include "engine/io/file_lock.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace qs::engine {

FileLock::FileLock(const std::filesystem::path& path, const std::function<void(const std::string&)>& on_wait) {
  create_parent_folders(path);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  QS_CHECK(fd_ >= 0, "cannot open lock file {}: {}", path.string(), std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      const int err = errno;
      ::close(fd_);
      fail("cannot lock {}: {}", path.string(), std::strerror(err));
    }
    char holder[32] = {};
    const ssize_t n = ::pread(fd_, holder, sizeof(holder) - 1, 0);
    on_wait(fmt::format("waiting for process {} (lock {})", n > 0 ? std::string(holder, n) : std::string("?"), path.string()));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd_);
      fail("cannot lock {}: {}", path.string(), std::strerror(err));
    }
  }
  // Who holds it, for the message of the next process that waits (only
  // informative: a failure to write it does not matter).
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0) [[maybe_unused]] const ssize_t written = ::pwrite(fd_, pid.data(), pid.size(), 0);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace qs::engine
