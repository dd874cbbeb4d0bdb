// HDF5 tensor files (checkpoints, cached weights and datasets).
#include "engine/io/tensor_file.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const auto path = qs::fuzz::input_file(data, size, "tensors.h5");
  qs::fuzz::refused_cleanly([&] { qs::engine::load_tensor_file(path); });
  return 0;
}
