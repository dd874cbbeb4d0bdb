#pragma once
// libFuzzer targets feed qslaw's file readers: the input becomes a file (the
// readers take paths, as users give them), and a reader may refuse it only
// with qs::Error - any other exception, a crash or a sanitizer report is a
// finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/error.h"

namespace qs::fuzz {

// A file holding the input, one per process (libFuzzer runs inputs in turn).
inline std::filesystem::path input_file(const uint8_t* data, std::size_t size, const std::string& name) {
  static const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("qslaw_fuzz_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

template <class F>
void refused_cleanly(F&& read) {
  try {
    read();
  } catch (const qs::Error&) {
    // A clear refusal is the expected outcome for most inputs.
  }
}

}  // namespace qs::fuzz
