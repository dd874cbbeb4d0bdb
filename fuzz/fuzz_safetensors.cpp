// safetensors checkpoints (engine/io/safetensors.h): any header or data is
// refused with a qs::Error or loaded, never read out of bounds.
#include "engine/io/safetensors.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const auto path = qs::fuzz::input_file(data, size, "model.safetensors");
  qs::fuzz::refused_cleanly([&] {
    qs::engine::SafetensorsFile file(path);
    for (const std::string& name : file.names()) file.load(name);
  });
  return 0;
}
