// The qslaw binary: run, info, generate, table, probe and cache (benchmarks
// are their own binaries under bench/, run by `./qslaw bench <name>`).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <omp.h>

#include "engine/backend.h"
#include "engine/dist/launch.h"
#include "engine/dist/process_group.h"
#include "engine/error.h"
#include "experiments/runner.h"
#include "experiments/stages/clip_probes.h"
#include "experiments/stage.h"
#include "experiments/stage_cache.h"
#include "experiments/table.h"
#include "cli/generate_world.h"
#include "cli/eval_sqa.h"
#include "cli/inspect.h"
#include "cli/diff.h"
#include "cli/merge.h"
#include "cli/weight_dtype.h"
#include "experiments/model_files.h"
#include "cli/quantize.h"
#include "data/sqa.h"
#include "data/render.h"
#include "data/scene.h"
#include "vision/image_io.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace {

int cmd_info() {
  fmt::print("qslaw {}\n", QSLAW_VERSION);
  fmt::print("cpu threads: {} (OpenMP wait policy: {})\n", omp_get_max_threads(),
             std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "default");
  fmt::print("cuda backend: {}", qs::engine::cuda_built() ? "built" : "not built");
  if (qs::engine::cuda_built()) fmt::print(", {} GPU(s) visible", qs::engine::cuda_device_count());
  fmt::print("\ndistributed: {}", qs::engine::dist::build_info());
  if (qs::engine::dist::launched_by_mpi()) {
    qs::engine::dist::ProcessGroup& world = qs::engine::dist::world();
    fmt::print("; this process is rank {} of {} ({})", world.rank(), world.size(), world.backend());
  } else {
    fmt::print("; one process (mpirun -np N, or run --ranks N, starts more)");
  }
  fmt::print("\nstages:");
  for (const auto& s : qs::experiments::stage_registry()) fmt::print(" {}", s.name);
  fmt::print("\n");
  return 0;
}

// A failed rank of a data-parallel run ends the whole job, with its message,
// instead of leaving the others waiting in a collective.
int failed(const std::string& message) {
  if (qs::engine::dist::launched_by_mpi()) {
    qs::engine::dist::ProcessGroup& world = qs::engine::dist::world();
    if (world.size() > 1) {
      fmt::print(stderr, "error (rank {} of {}): {}\n", world.rank(), world.size(), message);
      std::fflush(stderr);
      world.abort(1);
    }
  }
  fmt::print(stderr, "error: {}\n", message);
  return 1;
}

// An output folder for `generate`, created if needed; errors name it.
std::filesystem::path output_folder(const std::string& out) {
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  QS_CHECK(!ec && std::filesystem::is_directory(out), "--out {}: cannot create this folder ({})", out,
           ec ? ec.message() : std::string("not a folder"));
  return out;
}

// A text file that must be fully written (a read-only folder, a full disk).
void check_written(std::ofstream& file, const std::filesystem::path& path) {
  file.close();
  QS_CHECK(!file.fail(), "cannot write {}", path.string());
}

// Writes n rendered scenes as PNGs with their captions, for a person to look at.
int cmd_generate_scenes(int64_t n, const std::string& out, uint64_t seed, double patterned) {
  const std::filesystem::path dir = output_folder(out);
  qs::data::SceneConfig scene_config;
  scene_config.patterned = patterned;
  std::ofstream captions(dir / "captions.txt");
  qs::data::Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    qs::data::Scene scene = qs::data::sample_scene(rng, scene_config);
    const std::string caption = qs::data::describe_scene(scene, rng);
    const std::string file = fmt::format("scene_{:03d}.png", i);
    qs::vision::save_png(std::filesystem::path(out) / file, qs::data::render_scene(scene, seed * 1000003 + i));
    captions << file << "\t" << caption << "\n";
    fmt::print("{}  {}\n", file, caption);
  }
  check_written(captions, dir / "captions.txt");
  fmt::print("wrote {} scenes to {}\n", n, out);
  return 0;
}

// Writes n SynthSQA questions: the prompt and answer as the model sees them,
// the image (PNG) for IMG questions, and the lecture and explanation.
int cmd_generate_sqa(int64_t n, const std::string& out, uint64_t seed, int64_t entities) {
  const std::filesystem::path dir = output_folder(out);
  qs::data::SqaConfig config;
  config.seed = seed;
  config.entities.seed = seed;
  config.entities.count = entities;
  config.train = n;
  config.val = 0;
  config.test = 1;
  const qs::data::SqaDataset d = qs::data::make_sqa(config);
  std::ofstream text(dir / "questions.txt");
  for (int64_t i = 0; i < n; ++i) {
    const qs::data::SqaQuestion& q = d.train.questions[static_cast<std::size_t>(i)];
    std::string block = fmt::format("#{} [{} {} {}] kind {}\n", i, qs::data::name(q.subject), qs::data::name(q.context_type),
                                    qs::data::name(q.grade), q.kind);
    if (q.has_image) {
      const std::string file = fmt::format("sqa_{:03d}.png", i);
      qs::vision::save_png(std::filesystem::path(out) / file, d.train.images.select(0, d.train.image_index[i]));
      block += "<image: " + file + ">\n";
    }
    block += qs::data::sqa_prompt(q) + "\n-> " + qs::data::sqa_answer(q) + "\nLecture: " + q.lecture +
             "\nExplanation: " + q.explanation + "\n\n";
    text << block;
    fmt::print("{}", block);
  }
  check_written(text, dir / "questions.txt");
  fmt::print("wrote {} questions to {}\n", n, out);
  return 0;
}

int cmd_table(const std::string& path) {
  const std::filesystem::path dir = qs::experiments::latest_sweep_run(path);
  fmt::print("{}\n{}", dir.string(), qs::experiments::write_sweep_report(dir));
  fmt::print("wrote {0}/table.md, {0}/table.csv, {0}/loss.svg, {0}/accuracy.svg\n", dir.string());
  return 0;
}

// Linear probes on a saved ViT, one row per probe, one column per readout.
int cmd_probe(const qs::experiments::SavedVitProbe& request) {
  const std::vector<qs::experiments::ProbeResult> results = qs::experiments::probe_saved_vit(request);
  fmt::print("linear probes on {}: {} scenes per set (first half trains, second half scores), {} steps, seed {}\n\n",
             request.weights.string(), request.scenes, request.steps, request.seed);
  fmt::print("| probe | patches (mean) | class token | object's patch | majority |\n| --- | ---: | ---: | ---: | ---: |\n");
  std::vector<std::string> names;
  for (const auto& r : results) {
    if (std::find(names.begin(), names.end(), r.name) == names.end()) names.push_back(r.name);
  }
  for (const std::string& name : names) {
    auto cell = [&](const char* readout) {
      for (const auto& r : results) {
        if (r.name == name && r.readout == readout) return fmt::format("{:.1f}", 100 * r.accuracy);
      }
      return std::string("-");
    };
    double chance = 0;
    for (const auto& r : results) chance = r.name == name ? r.chance : chance;
    fmt::print("| {} | {} | {} | {} | {:.1f} |\n", name, cell("patches"), cell("class"), cell("object"), 100 * chance);
  }
  return 0;
}

// Checks every cached stage output and dataset against its checksums.
int cmd_cache_verify(const std::filesystem::path& runs_root) {
  int64_t checked = 0;
  const std::vector<std::string> problems = qs::experiments::verify_cache(runs_root / "cache", &checked);
  for (const std::string& p : problems) fmt::print("corrupt: {}\n", p);
  fmt::print("{} cache entries checked in {}: {} ok, {} failed\n", checked, (runs_root / "cache").string(),
             checked - static_cast<int64_t>(problems.size()), problems.size());
  return problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // OpenMP reads its wait policy when the library loads, before main. Spinning
  // workers made 2 threads slower than 1 on this project's 2-core machines
  // (and a background run 5x slower next to another process): a binary
  // started directly (a debugger, a script) re-executes itself once with the
  // passive policy, unless the caller chose one.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: go on as we are
  }
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
  int ranks = 1;
  run->add_option("--ranks", ranks, "data-parallel processes: runs itself under mpirun -np N")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  auto* info = app.add_subcommand("info", "print build, device and stage information");
  auto* generate = app.add_subcommand("generate", "write samples of the synthetic data to look at");
  auto* scenes = generate->add_subcommand("scenes", "rendered shape-world scenes (PNG) with their captions");
  generate->require_subcommand(1);
  int64_t n_scenes = 16;
  uint64_t gen_seed = 0;
  std::string gen_out = "runs/samples/scenes";
  scenes->add_option("--n", n_scenes, "how many scenes")->check(CLI::Range(int64_t{1}, int64_t{100000}))->capture_default_str();
  scenes->add_option("--out", gen_out, "output folder")->capture_default_str();
  scenes->add_option("--seed", gen_seed, "seed")->capture_default_str();
  double gen_patterned = 0.0;
  scenes->add_option("--patterned", gen_patterned, "share of striped, spotted or hollow objects (the creatures' glyphs)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  auto* sqa = generate->add_subcommand("sqa", "SynthSQA questions (text, and PNG for image questions)");
  int64_t n_sqa = 8;
  std::string sqa_out = "runs/samples/sqa";
  sqa->add_option("--n", n_sqa, "how many questions")->check(CLI::Range(int64_t{1}, int64_t{100000}))->capture_default_str();
  sqa->add_option("--out", sqa_out, "output folder")->capture_default_str();
  sqa->add_option("--seed", gen_seed, "seed")->capture_default_str();
  int64_t sqa_entities = 1500;
  sqa->add_option("--entities", sqa_entities, "creatures in the knowledge base (0: the first edition's world)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))
      ->capture_default_str();
  auto* world = generate->add_subcommand("world", "the knowledge base's creatures, profile documents, recall probes and English text");
  qs::cli::WorldSamples world_request;
  world->add_option("--creatures", world_request.creatures, "creatures shown with their facts")->capture_default_str();
  world->add_option("--entities", world_request.entity_count, "size of the knowledge base")->capture_default_str();
  world->add_option("--documents", world_request.documents, "profile documents")->capture_default_str();
  world->add_option("--probes", world_request.probes, "recall probes")->capture_default_str();
  world->add_option("--english", world_request.english, "English documents")->capture_default_str();
  world->add_option("--wordnet", world_request.wordnet, "WordNet data folder")->capture_default_str();
  world->add_option("--gcide", world_request.gcide, "GCIDE dictd file")->capture_default_str();
  world->add_option("--seed", world_request.seed, "seed")->capture_default_str();
  auto* table = app.add_subcommand("table", "print (and write) the table of a sweep run");
  std::string table_path;
  table->add_option("run", table_path, "runs/<experiment> (its newest sweep) or a run folder")->required();
  auto* probe = app.add_subcommand("probe", "linear probes (shape, color, size, count) on a ViT saved by pretrain_clip");
  qs::experiments::SavedVitProbe probe_request;
  std::string probe_weights;
  probe->add_option("weights", probe_weights, "vision.h5, or the runs/cache/pretrain_clip/<key> folder holding it")
      ->required();
  probe->add_option("--scenes", probe_request.scenes, "scenes per probe set")->capture_default_str();
  probe->add_option("--steps", probe_request.steps, "training steps of each probe")->capture_default_str();
  probe->add_option("--seed", probe_request.seed, "the experiment seed the probe scenes derive from")->capture_default_str();
  auto* inspect = app.add_subcommand("inspect", "what a checkpoint holds: a Hugging Face folder, a .safetensors or a qslaw .h5 file");
  std::string inspect_path;
  bool inspect_all = false;
  inspect->add_option("path", inspect_path, "checkpoint folder or file")->required();
  inspect->add_flag("--all", inspect_all, "list every tensor");
  auto* eval_sqa = app.add_subcommand("eval-sqa", "a LLaVA checkpoint from outside on ScienceQA, as LLaVA's scripts evaluate it");
  qs::cli::EvalSqaRequest sqa_request;
  eval_sqa->add_option("model", sqa_request.model, "llava-hf folder (or the original layout's, with --clip)")->required();
  eval_sqa->add_option("--scienceqa", sqa_request.scienceqa, "folder with problems.json, pid_splits.json and images/")->required();
  eval_sqa->add_option("--tokenizer", sqa_request.tokenizer, "tokenizer.model (default: the model folder's)");
  eval_sqa->add_option("--clip", sqa_request.clip, "the vision tower's folder (original LLaVA layout)");
  eval_sqa->add_option("--split", sqa_request.split, "split of pid_splits.json")->capture_default_str();
  eval_sqa->add_option("--limit", sqa_request.limit, "the first N problems (0: all)")->capture_default_str();
  eval_sqa->add_option("--quantize", sqa_request.quantize, "none, minmax2/3/4/8 (group 64) or nf4")->capture_default_str();
  eval_sqa->add_option("--predictions", sqa_request.predictions, "write every answer as JSON Lines");
  auto* quantize = app.add_subcommand("quantize", "a Hugging Face LLaMA into packed min-max codes, streamed block by block");
  qs::cli::QuantizeRequest quantize_request;
  quantize->add_option("model", quantize_request.model, "folder with config.json and safetensors")->required();
  quantize->add_option("out", quantize_request.out, "folder for the packed model")->required();
  quantize->add_option("--bits", quantize_request.bits, "2, 3, 4 or 8")->capture_default_str();
  quantize->add_option("--group-size", quantize_request.group_size, "weights per scale")->capture_default_str();
  quantize->add_option("--dtype", quantize_request.dtype, "f32, bf16 or f16 for the unquantized tensors")
      ->capture_default_str();
  quantize->add_option("--grid", quantize_request.grid,
                       "calibrated grids (<layer>.scale/.zero in .h5 or .safetensors, e.g. the calibrate stage's LWC file)");
  auto* merge = app.add_subcommand("merge", "a PEFT LoRA adapter folded into its base LLaMA, written as a plain checkpoint");
  qs::cli::MergeRequest merge_request;
  merge->add_option("base", merge_request.base, "the base model's folder (Hugging Face, or qslaw's packed model)")
      ->required();
  merge->add_option("out", merge_request.out, "folder for the merged model")->required();
  merge->add_option("--adapter", merge_request.adapter, "adapter_config.json + adapter_model.safetensors");
  merge->add_option("--dtype", merge_request.dtype, "f32, bf16 or f16")->capture_default_str();
  auto* convert = app.add_subcommand("convert", "qslaw's LLM file (model.h5) to a Hugging Face LLaMA folder, or back");
  std::string convert_in, convert_out, convert_dtype = "f32";
  convert->add_option("in", convert_in, "pretrain_llm's model.h5, or a Hugging Face LLaMA folder")->required();
  convert->add_option("out", convert_out, "a folder, or a .h5 file")->required();
  convert->add_option("--dtype", convert_dtype, "f32, bf16 or f16 (to Hugging Face)")->capture_default_str();
  auto* diff = app.add_subcommand("diff", "two qslaw tensor files (.h5) compared tensor by tensor (exit 1 when they differ)");
  qs::cli::DiffRequest diff_request;
  diff->add_option("a", diff_request.a, "a checkpoint or stage output (.h5)")->required();
  diff->add_option("b", diff_request.b, "the one to compare it with")->required();
  diff->add_option("--rtol", diff_request.rtol, "relative tolerance (of b)")->capture_default_str();
  diff->add_option("--atol", diff_request.atol, "absolute tolerance")->capture_default_str();
  diff->add_flag("--norm", diff_request.norm, "compare each tensor's norm of differences, not each value");
  auto* cache = app.add_subcommand("cache", "inspect the stage cache");
  cache->require_subcommand(1);
  auto* verify = cache->add_subcommand("verify", "check every cached stage output and dataset against its checksums");
  verify->add_option("--runs", runs_root, "where runs and the stage cache live")->capture_default_str();
  if (argc > 1 && argv[1][0] != '-') {  // CLI11 would only say "a subcommand is required"
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      fmt::print(stderr, "error: unknown command '{}' (commands: {})\n", argv[1], fmt::join(names, ", "));
      return 2;
    }
  }
  CLI11_PARSE(app, argc, argv);
  try {
    if (*run) {
      options.overrides = overrides;
      options.runs_root = runs_root;
      options.progress = !no_progress;
      if (ranks > 1 && !qs::engine::dist::launched_by_mpi()) qs::engine::dist::relaunch_under_mpirun(ranks, argc, argv);
      qs::experiments::run_experiment(config, options);
      qs::engine::dist::finalize();
      return 0;
    }
    if (*info) return cmd_info();
    if (*scenes) return cmd_generate_scenes(n_scenes, gen_out, gen_seed, gen_patterned);
    if (*sqa) return cmd_generate_sqa(n_sqa, sqa_out, gen_seed, sqa_entities);
    if (*world) return qs::cli::generate_world(world_request);
    if (*table) return cmd_table(table_path);
    if (*verify) return cmd_cache_verify(runs_root);
    if (*inspect) return qs::cli::inspect(inspect_path, inspect_all);
    if (*eval_sqa) return qs::cli::eval_sqa(sqa_request);
    if (*quantize) return qs::cli::quantize(quantize_request);
    if (*merge) return qs::cli::merge(merge_request);
    if (*diff) return qs::cli::diff(diff_request);
    if (*convert) {
      const std::filesystem::path in = convert_in, out = convert_out;
      if (in.extension() == ".h5") {
        qs::experiments::qslaw_llm_to_hf(in, out, qs::cli::weight_dtype(convert_dtype));
      } else {
        QS_CHECK(out.extension() == ".h5", "convert: {} is a Hugging Face folder, so the output must be a .h5 file, got {}",
                 in.string(), out.string());
        qs::experiments::hf_llm_to_qslaw(in, out);
      }
      fmt::print("{} -> {}\n", in.string(), out.string());
      return 0;
    }
    if (*probe) {
      probe_request.weights = probe_weights;
      probe_request.dataset_dir = std::filesystem::path(runs_root) / "cache" / "datasets";
      return cmd_probe(probe_request);
    }
  } catch (const qs::Error& e) {
    return failed(e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    return failed(fmt::format("{} ({})", e.code().message(), e.path1().string()));
  } catch (const std::bad_alloc&) {
    return failed("out of memory");
  } catch (const std::exception& e) {
    // A failure no check anticipated: still a message and exit 1, never an abort.
    return failed(e.what());
  }
  return 0;
}
