// The qslaw command line: subcommands grow with the pipeline (run, table,
// eval, inspect, bench, generate).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <omp.h>

#include "engine/backend.h"
#include "engine/error.h"
#include "experiments/runner.h"
#include "experiments/stage.h"
#include "data/render.h"
#include "data/scene.h"
#include "vision/image_io.h"

#include <fstream>

namespace {

int cmd_info() {
  fmt::print("qslaw {}\n", QSLAW_VERSION);
  fmt::print("cpu threads: {}\n", omp_get_max_threads());
  fmt::print("cuda backend: {}", qs::engine::cuda_built() ? "built" : "not built");
  if (qs::engine::cuda_built()) fmt::print(", {} GPU(s) visible", qs::engine::cuda_device_count());
  fmt::print("\nstages:");
  for (const auto& s : qs::experiments::stage_registry()) fmt::print(" {}", s.name);
  fmt::print("\n");
  return 0;
}

// Writes n rendered scenes as PNGs with their captions, for a person to look at.
int cmd_generate_scenes(int64_t n, const std::string& out, uint64_t seed) {
  std::filesystem::create_directories(out);
  std::ofstream captions(std::filesystem::path(out) / "captions.txt");
  qs::data::Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    qs::data::Scene scene = qs::data::sample_scene(rng);
    const std::string caption = qs::data::describe_scene(scene, rng);
    const std::string file = fmt::format("scene_{:03d}.png", i);
    qs::vision::save_png(std::filesystem::path(out) / file, qs::data::render_scene(scene, seed * 1000003 + i));
    captions << file << "\t" << caption << "\n";
    fmt::print("{}  {}\n", file, caption);
  }
  fmt::print("wrote {} scenes to {}\n", n, out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qslaw: quantization-aware scale learning for multimodal LLMs"};
  app.require_subcommand(1);
  std::string config;
  std::vector<std::string> overrides;
  qs::experiments::RunOptions options;
  std::string runs_root = "runs";
  auto* run = app.add_subcommand("run", "run an experiment from a YAML file");
  run->add_option("config", config, "experiment YAML (e.g. experiments/quickstart.yaml)")->required();
  run->add_option("overrides", overrides, "config overrides: key.path=value ...");
  run->add_option("--force", options.force,
                  "recompute this stage and the stages after it even when cached (repeatable; 'all' for every stage)")
      ->allow_extra_args(false);
  run->add_option("--runs", runs_root, "where runs and the stage cache live")->capture_default_str();
  bool no_progress = false;
  run->add_flag("--no-progress", no_progress, "no progress line");
  auto* info = app.add_subcommand("info", "print build, device and stage information");
  auto* generate = app.add_subcommand("generate", "write samples of the synthetic data to look at");
  auto* scenes = generate->add_subcommand("scenes", "rendered shape-world scenes (PNG) with their captions");
  generate->require_subcommand(1);
  int64_t n_scenes = 16;
  uint64_t gen_seed = 0;
  std::string gen_out = "runs/samples/scenes";
  scenes->add_option("--n", n_scenes, "how many scenes")->capture_default_str();
  scenes->add_option("--out", gen_out, "output folder")->capture_default_str();
  scenes->add_option("--seed", gen_seed, "seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    if (*run) {
      options.overrides = overrides;
      options.runs_root = runs_root;
      options.progress = !no_progress;
      qs::experiments::run_experiment(config, options);
      return 0;
    }
    if (*info) return cmd_info();
    if (*scenes) return cmd_generate_scenes(n_scenes, gen_out, gen_seed);
  } catch (const qs::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
