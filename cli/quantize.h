#pragma once
// qslaw quantize: a Hugging Face LLaMA checkpoint streamed into packed
// min-max codes (quantize on load) and written as the deployed model
// (interop/packed_llama.h), which `qslaw inspect` lists and load_packed_llama
// reads back. The f32 model never exists, so a 7B model fits in ~6 GB.
#include <filesystem>
#include <string>

namespace qs::cli {

struct QuantizeRequest {
  std::filesystem::path model;  // config.json + safetensors
  std::filesystem::path out;
  int bits = 4;
  int64_t group_size = 128;
  std::string dtype = "f16";  // of the tensors left in full precision
  std::filesystem::path grid;  // a calibrated grid (QuantizeOnLoad::grid_file); empty: min-max
};

int quantize(const QuantizeRequest& request);

}  // namespace qs::cli
