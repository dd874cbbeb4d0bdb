#pragma once
// Named tensors in HDF5 files: one dataset per tensor, named by its dotted
// path, with string attributes on the file (config, step, ...). Writes go to
// a temporary file that is renamed into place, so a crash never leaves a
// half-written checkpoint where a good one was.
#include <filesystem>
#include <map>
#include <string>

#include "engine/tensor.h"

namespace qs::engine {

struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> attributes;
};

void save_tensor_file(const std::filesystem::path& path, const TensorFile& file);
// Errors name the file and, for a bad entry, the dataset.
TensorFile load_tensor_file(const std::filesystem::path& path);

}  // namespace qs::engine
