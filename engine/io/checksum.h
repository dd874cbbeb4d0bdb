#pragma once
// SHA-256 digests of files: the stage cache records one per artifact and
// checks them before reusing anything.
#include <filesystem>
#include <string>
#include <string_view>

namespace qs::engine {

// Lower-case hex SHA-256 of a file's bytes; errors name the file.
std::string sha256_file(const std::filesystem::path& path);
std::string sha256_hex(std::string_view bytes);

}  // namespace qs::engine
