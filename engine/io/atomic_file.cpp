#include "engine/io/atomic_file.h"

#include <fstream>

#include "engine/error.h"

namespace qs::engine {

void write_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    QS_CHECK(out.good(), "cannot write {}", tmp.string());
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    QS_CHECK(out.good(), "writing {} failed (disk full?)", tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  QS_CHECK(!ec, "cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
}

}  // namespace qs::engine
