#pragma once
#include <filesystem>
#include <functional>
#include <string_view>

namespace qs::engine {

// A name beside `path` that no other writer uses (pid and a counter): two
// processes saving the same file never write into one temporary.
std::filesystem::path unique_temp_path(const std::filesystem::path& path);

// Creates the folders above `path`; errors name `path` and the folder.
void create_parent_folders(const std::filesystem::path& path);

// Flushes a written file (or a folder's entries) to the disk, so a rename
// published after it never points at data still in the page cache.
void sync_path(const std::filesystem::path& path);

// Writes `contents` to a private temporary file beside `path`, syncs it, then
// renames it over `path`: readers see the old file or the new one, never half
// of one. On failure the temporary is removed and `path` is untouched.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

// The same for a file too large to hold in memory: `produce` appends its bytes
// through the sink it is given, in pieces of any size. If it throws, the
// temporary is removed, `path` is untouched and the exception goes on.
using ByteSink = std::function<void(std::string_view bytes)>;
void write_file_atomically(const std::filesystem::path& path, const std::function<void(const ByteSink&)>& produce);

}  // namespace qs::engine
