// YAML experiment configs: loading, includes, overrides and the validation
// of every stage section.
#include "experiments/runner.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const auto path = qs::fuzz::input_file(data, size, "experiment.yaml");
  qs::fuzz::refused_cleanly([&] { qs::experiments::check_experiment(path); });
  return 0;
}
