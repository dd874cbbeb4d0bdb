#pragma once
// qslaw inspect: what a checkpoint holds, without loading it.
#include <filesystem>

namespace qs::cli {

// A safetensors file, a Hugging Face folder (config.json + weights, sharded
// or not) or a qslaw HDF5 tensor file: its model (from config.json), tensors
// by dtype, parameter count and bytes, and the tensors themselves (all, or
// the first and last few).
int inspect(const std::filesystem::path& path, bool all);

}  // namespace qs::cli
