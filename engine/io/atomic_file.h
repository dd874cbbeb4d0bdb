#pragma once
#include <filesystem>
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

}  // namespace qs::engine
