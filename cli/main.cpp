// The qslaw command line: subcommands grow with the pipeline (run, table,
// eval, inspect, bench, generate).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <omp.h>

#include "engine/backend.h"
#include "engine/error.h"
#include "experiments/config.h"

namespace {

int cmd_run(const std::string& config_path) {
  auto exp = qs::experiments::load_experiment(config_path);
  fmt::print("qslaw run {}\n", config_path);
  fmt::print("--- resolved config ---\n{}\n", qs::experiments::to_yaml(exp.root));
  fmt::print("--- stages: the stage pipeline is not built yet; nothing was run ---\n");
  return 0;
}

int cmd_info() {
  fmt::print("qslaw {}\n", QSLAW_VERSION);
  fmt::print("cpu threads: {}\n", omp_get_max_threads());
  fmt::print("cuda backend: {}", qs::engine::cuda_built() ? "built" : "not built");
  if (qs::engine::cuda_built()) fmt::print(", {} GPU(s) visible", qs::engine::cuda_device_count());
  fmt::print("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qslaw: quantization-aware scale learning for multimodal LLMs"};
  app.require_subcommand(1);
  std::string config;
  auto* run = app.add_subcommand("run", "run an experiment from a YAML file");
  run->add_option("config", config, "experiment YAML (e.g. experiments/quickstart.yaml)")
      ->required();
  auto* info = app.add_subcommand("info", "print build and device information");
  CLI11_PARSE(app, argc, argv);
  try {
    if (*run) return cmd_run(config);
    if (*info) return cmd_info();
  } catch (const qs::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
