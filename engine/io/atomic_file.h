#pragma once
#include <filesystem>
#include <string_view>

namespace qs::engine {

// Writes `contents` to a temporary file beside `path`, then renames it over
// `path`: readers see the old file or the new one, never half of one.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace qs::engine
