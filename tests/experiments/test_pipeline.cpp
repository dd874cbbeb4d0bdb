#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/backend.h"
#include "engine/io/atomic_file.h"
#include "experiments/runner.h"
#include "experiments/table.h"
#include "support.h"

using qs::test::temp_root;

using namespace qs::experiments;
using qs::test::error_of;
using qs::test::has;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const fs::path kTinyPipeline = fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pipeline.yaml";
}  // namespace

TEST_CASE("the tiny pipeline runs every stage for two sweep variants, prints the table, and scores by likelihood") {
  fs::path root = temp_root("pipeline");
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  RunSummary s = run_experiment(kTinyPipeline, o);
  for (const char* v : {"qlora-s0", "qslaw-s0"}) {
    INFO(v);
    for (const char* f : {"config.yaml", "metrics.jsonl", "results.json"}) CHECK(fs::exists(s.run_dir / v / f));
    const auto& r = s.results[v];
    for (const char* stage : {"pretrain_llm", "pretrain_clip", "calibrate", "align", "warmup", "instruct", "evaluate"}) {
      CHECK(r.contains(stage));
    }
    const auto& ev = r["evaluate"];
    CHECK(ev["questions"].get<int64_t>() == 12);
    CHECK(ev["counts"]["Avg"].get<int64_t>() == 12);
    CHECK(ev["counts"]["G1-6"].get<int64_t>() + ev["counts"]["G7-12"].get<int64_t>() == 12);
    CHECK(ev["text_ppl"].get<double>() > 1.0);
    CHECK(ev["peak_memory_mb"].get<double>() > 0.0);
  }
  // QSLAW learns scales in align and runs the warmup; QLoRA skips it.
  CHECK(s.results["qslaw-s0"]["align"]["alpha_shift"].get<double>() > 0.0);
  CHECK(s.results["qlora-s0"]["warmup"]["skipped"].get<bool>());
  const double realised = s.results["qslaw-s0"]["warmup"]["text_share_realised"].get<double>();
  CHECK(realised == doctest::Approx(0.25));  // step schedule: half the steps at 0.5
  // Both variants share the upstream stages: one pretraining, one calibration.
  CHECK(std::distance(fs::directory_iterator(root / "cache/pretrain_llm"), fs::directory_iterator()) == 1);
  CHECK(std::distance(fs::directory_iterator(root / "cache/calibrate"), fs::directory_iterator()) == 1);
  // The table: one row per variant, every column.
  CHECK(has(s.table, "| QLoRA |"));
  CHECK(has(s.table, "| QSLAW |"));
  CHECK(has(s.table, "| variant | NAT | SOC | LAN | TXT | IMG | NO | G1-6 | G7-12 | Avg |"));
  for (const char* f : {"table.md", "table.csv", "loss.svg", "accuracy.svg", "sweep.json"}) CHECK(fs::exists(s.run_dir / f));
  CHECK(has(read(s.run_dir / "loss.svg"), "<polyline"));
  // Warmup proportions are logged per step.
  CHECK(has(read(s.run_dir / "qslaw-s0/metrics.jsonl"), "text_share_realised"));
  // `qslaw table runs/<experiment>` finds this run again.
  CHECK(latest_sweep_run(root / "pipeline_tiny") == s.run_dir);
  // Likelihood scoring of text answers, on the same cached upstream stages:
  // the pick is the choice whose complete answer the tuned model finds most
  // likely; the per-token mean is kept beside it.
  o.overrides = {"llava.answer_format=text", "evaluate.scoring=[likelihood, likelihood_mean]",
                 "sweep.variants=[{name: QSLAW, set: {method.preset: qslaw}}]"};
  RunSummary l = run_experiment(kTinyPipeline, o);
  const auto& lev = l.results["qslaw-s0"]["evaluate"];
  CHECK(lev["malformed"].get<int64_t>() == 0);
  CHECK(lev["scoring"] == "likelihood");
  CHECK(lev["by_scoring"].contains("likelihood_mean"));
  CHECK(has(l.table, "scored by likelihood, target answer"));
  CHECK(has(l.table, "| Avg (likelihood_mean) |"));
  int64_t rows = 0;
  for (const auto& dir : fs::directory_iterator(root / "cache/evaluate")) {
    std::ifstream in(dir.path() / "predictions.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto all = nlohmann::json::parse(line);
      if (!all.contains("likelihood")) continue;  // a generate-scored variant
      const auto& p = all["likelihood"];
      ++rows;
      const auto scores = p["scores"].get<std::vector<double>>();
      REQUIRE(scores.size() >= 2);
      const int64_t best = std::max_element(scores.begin(), scores.end()) - scores.begin();
      CHECK(p["parsed"].get<int64_t>() == best);
      CHECK(p["correct"].get<bool>() == (best == all["answer"].get<int64_t>()));
      // Log-probabilities of distinct answers: each below 0, their
      // probabilities summing to at most 1.
      double total = 0.0;
      for (double x : scores) {
        CHECK(x < 0.0);
        total += std::exp(x);
      }
      CHECK(total <= 1.0 + 1e-9);
      CHECK(has(p["generation"].get<std::string>(), "The answer is "));
      // The mean divides each sum by the choice's answer tokens.
      const auto mean = all["likelihood_mean"]["scores"].get<std::vector<double>>();
      const auto tokens = all["likelihood_mean"]["answer_tokens"].get<std::vector<int64_t>>();
      for (std::size_t c = 0; c < scores.size(); ++c) CHECK(mean[c] == doctest::Approx(scores[c] / static_cast<double>(tokens[c])));
    }
  }
  CHECK(rows == 12);
  // The official protocol: LEA targets (lecture, explanation, then the
  // answer) and evaluation by generation and parsing, beside likelihood.
  o.overrides = {"llava.target=lea", "llava.answer_format=letter", "evaluate.scoring=[generate, likelihood]",
                 "evaluate.max_new_tokens=48", "sweep.variants=[{name: QSLAW, set: {method.preset: qslaw}}]"};
  RunSummary lea = run_experiment(kTinyPipeline, o);
  const auto& eev = lea.results["qslaw-s0"]["evaluate"];
  CHECK(eev["target"] == "lea");
  CHECK(eev["scoring"] == "generate");
  CHECK(eev["questions"].get<int64_t>() == 12);
  const int64_t malformed = eev["by_scoring"]["generate"]["malformed"].get<int64_t>();
  CHECK(malformed >= 0);
  CHECK(malformed <= 12);
  CHECK(eev["by_scoring"]["likelihood"]["counts"]["Avg"].get<int64_t>() == 12);
  CHECK(has(lea.table, "scored by generate, target lea"));
  // Recall after tuning is measured on the base's probes: with no tuning
  // step, LoRA (B = 0) over the f32 LLM is the pretrained LLM, so evaluate
  // must find exactly the recall pretrain_llm found.
  o.overrides = {"instruct.train.steps=0", "sweep.variants=[{name: FP LoRA, set: {method.preset: lora}}]"};
  RunSummary untuned = run_experiment(kTinyPipeline, o);
  const auto& ur = untuned.results["fp_lora-s0"];
  REQUIRE(ur["pretrain_llm"]["probes"]["recall"].is_number());
  CHECK(ur["evaluate"]["recall_pct"].get<double>() == 100.0 * ur["pretrain_llm"]["probes"]["recall"].get<double>());
  CHECK(ur["evaluate"]["recall_chance_pct"].get<double>() ==
        doctest::Approx(100.0 * ur["pretrain_llm"]["probes"]["recall_chance"].get<double>()));
  CHECK(has(untuned.table, "recall %"));
  // The tuned runs above report it too.
  CHECK(s.results["qslaw-s0"]["evaluate"]["recall_pct"].is_number());
  fs::remove_all(root);
}

TEST_CASE("the sweep table averages seeds as mean and standard deviation") {
  fs::path dir = temp_root("table");
  fs::create_directories(dir);
  nlohmann::json index = nlohmann::json::array();
  const double avg[] = {50.0, 60.0, 80.0};
  for (int i = 0; i < 3; ++i) {
    const std::string name = i < 2 ? "A" : "B";
    const std::string sub = fmt::format("v{}", i);
    index.push_back({{"name", name}, {"seed", i}, {"dir", sub}});
    nlohmann::json acc;
    for (const std::string& c : accuracy_columns()) acc[c] = avg[i];
    acc["IMG"] = nullptr;  // a column without questions
    nlohmann::json ev{{"accuracy", acc}, {"questions", 10}, {"trainable_params_m", 0.5}, {"peak_memory_mb", 100.0},
                      {"tune_seconds", 10.0 * (i + 1)}, {"text_ppl", 2.0},
                      {"recall_pct", i < 2 ? nlohmann::json(40.0 + 10.0 * i) : nlohmann::json()}};
    fs::create_directories(dir / sub);
    qs::engine::write_file_atomically(dir / sub / "results.json", nlohmann::json{{"evaluate", ev}}.dump());
  }
  qs::engine::write_file_atomically(dir / "sweep.json", index.dump());
  const std::string md = write_sweep_report(dir);
  CHECK(has(md, "seeds {0, 1, 2}"));
  // A: mean 55, sample std 7.07; B: one seed, no ±. Each names its seeds,
  // which are not all of the header's.
  CHECK(has(md, "| A (seeds 0, 1) | 55.0 ± 7.1 | 55.0 ± 7.1 | 55.0 ± 7.1 | 55.0 ± 7.1 | - |"));
  CHECK(has(md, "| B (seeds 2) | 80.0 | 80.0 | 80.0 | 80.0 | - |"));
  CHECK(has(md, "15 ± 7"));  // tune seconds of A
  // Recall after tuning: a column because A has it; B's null is a gap, not nan.
  CHECK(has(md, "| text ppl | recall % |"));
  CHECK(has(md, "| 2.000 ± 0.000 | 45.0 ± 7.1 |\n"));
  CHECK(has(md, "| 30 | 2.000 | - |\n"));
  const std::string csv = read(dir / "table.csv");
  CHECK(has(csv, "\"A\",0 1,55,7.07107"));
  // A sweep whose world has no knowledge base has no recall column.
  qs::engine::write_file_atomically(dir / "sweep.json", nlohmann::json::array({index[2]}).dump());
  CHECK_FALSE(has(write_sweep_report(dir), "recall"));
  CHECK_FALSE(has(read(dir / "table.csv"), "recall"));
  qs::engine::write_file_atomically(dir / "sweep.json", index.dump());
  // Missing results are named.
  fs::remove(dir / "v2/results.json");
  CHECK(has(error_of([&] { write_sweep_report(dir); }), "v2/results.json"));
  fs::remove_all(dir);
}

TEST_CASE("the tiny pipeline on the second-edition world: English in the warmup, creature questions in SynthSQA") {
  fs::path root = temp_root("pipeline_english");
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  const std::string fixtures = std::string(QSLAW_SOURCE_DIR) + "/tests/fixtures/english";
  o.overrides = {"pretrain_llm.corpus.english.wordnet=" + fixtures + "/wordnet",
                 "pretrain_llm.corpus.english.gcide=" + fixtures + "/gcide.dict", "warmup.text=english"};
  RunSummary s = run_experiment(kTinyPipeline, o);
  const std::string log = read(s.run_dir / "qslaw-s0" / "log.txt");
  CHECK(has(log, "text chunks (english)"));
  CHECK(s.results["qslaw-s0"]["evaluate"]["questions"].get<int64_t>() == 12);
  // Half the questions of the cells that have creature questions ask them.
  int creature = 0;
  for (const auto& entry : fs::directory_iterator(root / "cache" / "evaluate")) {
    std::ifstream in(entry.path() / "predictions.jsonl");
    for (std::string line; std::getline(in, line);) creature += has(line, "creature") ? 1 : 0;
  }
  CHECK(creature > 0);
  // Without English in the corpus, an English warmup says what is missing.
  o.overrides = {"warmup.text=english"};
  CHECK(has(error_of([&] { run_experiment(kTinyPipeline, o); }), "pretrain_llm.corpus.english names no source"));
  fs::remove_all(root);
}

TEST_CASE("QSLAW's stages run on an imported LLaVA in both layouts, with its SentencePiece tokenizer") {
  const fs::path root = temp_root("pipeline_imported");
  const std::string fixtures = std::string(QSLAW_SOURCE_DIR) + "/tests/fixtures";
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  const fs::path config = fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/imported.yaml";
  // llava-hf; the original layout; a LLaMA and a CLIP tower joined by a new projector.
  const std::vector<std::vector<std::string>> layouts{
      {"llava.from=" + fixtures + "/hf_llava_sp/hf"},
      {"llava.from=" + fixtures + "/hf_llava_sp/original", "llava.clip_from=" + fixtures + "/hf_clip"},
      {"llava.from=~", "llava.llm_from=" + fixtures + "/hf_llava_sp/llm", "llava.vision_from=" + fixtures + "/hf_clip"}};
  for (const auto& layout : layouts) {
    CAPTURE(layout.back());
    o.overrides = layout;
    RunSummary s = run_experiment(config, o);
    const nlohmann::json& r = s.results;  // one run, no sweep: results by stage
    for (const char* stage : {"align", "warmup", "instruct", "evaluate"}) CHECK(r.contains(stage));
    CHECK(r["align"]["alpha_shift"].get<double>() > 0.0);  // scales learned on the imported LLM
    CHECK(r["warmup"]["text_share_realised"].get<double>() == doctest::Approx(0.5));
    CHECK(std::isfinite(r["instruct"]["loss"].get<double>()));
    CHECK(r["evaluate"]["counts"]["Avg"].get<int64_t>() == 8);
    CHECK(r["evaluate"]["by_scoring"].contains("generate"));
    CHECK(r["evaluate"]["text_ppl"].get<double>() > 1.0);
    const std::string log = read(s.run_dir / "log.txt");
    CHECK(has(log, "learn alpha"));
  }
  // Outside data throughout: LLaVA's pretraining JSON for align
  // (align.source), ScienceQA's own files in place of SynthSQA (sqa.source):
  // its two train problems tune, its test problem is evaluated, in
  // ScienceQA's columns.
  o.overrides = {"llava.from=" + fixtures + "/hf_llava_sp/hf", "sqa.source=" + fixtures + "/scienceqa", "sqa.train=2",
                 "sqa.val=0", "sqa.test=1", "align.source=" + fixtures + "/llava_pretrain/captions.json",
                 "align.images=" + fixtures + "/scienceqa/images"};
  {
    RunSummary s = run_experiment(config, o);
    CHECK(has(read(s.run_dir / "log.txt"), "3 pairs from " + fixtures + "/llava_pretrain/captions.json"));
    CHECK(s.results["evaluate"]["counts"]["Avg"].get<int64_t>() == 1);
    CHECK(s.results["evaluate"]["counts"]["SOC"].get<int64_t>() == 1);  // pid 40: social science
    CHECK(has(read(s.run_dir / "log.txt"), "2 ScienceQA train questions"));
  }
  // LLaVA's instruction JSON as the instruct stage's data (instruct.source).
  o.overrides = {"llava.from=" + fixtures + "/hf_llava_sp/hf", "instruct.source=" + fixtures + "/llava_pretrain/captions.json",
                 "instruct.images=" + fixtures + "/scienceqa/images"};
  {
    RunSummary s = run_experiment(config, o);
    CHECK(has(read(s.run_dir / "log.txt"), "3 LLaVA conversations from"));
    CHECK(std::isfinite(s.results["instruct"]["loss"].get<double>()));
  }
  o.overrides = {"llava.from=" + fixtures + "/hf_llava_sp/hf", "sqa.source=" + fixtures + "/nowhere"};
  CHECK(has(error_of([&] { run_experiment(config, o); }), "lacks ScienceQA's problems.json"));
  o.overrides = {"llava.from=" + fixtures + "/hf_llava_sp/hf", "align.source=" + fixtures + "/llava_pretrain/captions.json"};
  CHECK(has(error_of([&] { run_experiment(config, o); }), "train/12/image.png"));  // not beside the JSON

  // Outside files enter the cache key: the same folder after an edit recomputes.
  const fs::path copy = root / "model";
  fs::copy(fixtures + "/hf_llava_sp/hf", copy);
  o.overrides = {"llava.from=" + copy.string()};
  auto align_entries = [&] { return std::distance(fs::directory_iterator(root / "cache/align"), fs::directory_iterator()); };
  run_experiment(config, o);
  const auto before = align_entries();
  run_experiment(config, o);
  CHECK(align_entries() == before);  // unchanged: cached
  std::ofstream(copy / "config.json", std::ios::app) << "\n";
  run_experiment(config, o);
  CHECK(align_entries() == before + 1);

  // What an imported model cannot do is said before any work.
  o.overrides = {"llava.from=" + fixtures + "/hf_llava_sp/hf", "method.weights=lwc"};
  CHECK(has(error_of([&] { run_experiment(config, o); }), "method.weights lwc needs the calibrate stage"));
  o.overrides = {"llava.from=" + fixtures + "/nowhere"};
  CHECK(has(error_of([&] { run_experiment(config, o); }), "holds no config.json"));
  o.overrides = {"llava.from=" + fixtures + "/hf_llava"};  // a vocabulary of 61 for a 320-piece tokenizer
  CHECK(has(error_of([&] { run_experiment(config, o); }), "no tokenizer at"));
  o.overrides = {"llava.from=" + fixtures + "/hf_llava", "llava.tokenizer=" + fixtures + "/tokenizers/llama_like.model"};
  CHECK(has(error_of([&] { run_experiment(config, o); }), "the LLM's vocabulary only 61"));
  o.overrides = {"llava.llm_from=" + fixtures + "/hf_llava_sp/llm", "llava.vision_from=" + fixtures + "/hf_clip"};
  CHECK(has(error_of([&] { run_experiment(config, o); }), "not both"));
  o.overrides = {"llava.from=~", "llava.llm_from=" + fixtures + "/hf_llava_sp/llm"};
  CHECK(has(error_of([&] { run_experiment(config, o); }), "go together"));
  fs::remove_all(root);
}

TEST_CASE("sweep and method config errors name the variant and the key") {
  fs::path dir = temp_root("sweep_errors");
  fs::create_directories(dir);
  auto write = [&](const std::string& text) {
    std::ofstream(dir / "exp.yaml") << "include: " << kTinyPipeline.string() << "\n" << text;
    return dir / "exp.yaml";
  };
  RunOptions o;
  o.runs_root = dir / "runs";
  o.progress = false;
  std::string err = error_of([&] {
    run_experiment(write("sweep:\n  variants:\n    - {name: X, set: {method.preset: qlorra}}\n"), o);
  });
  CHECK(has(err, "sweep variant 'X'"));
  CHECK(has(err, "method.preset"));
  err = error_of([&] { run_experiment(write("sweep:\n  variants:\n    - {name: X, sett: {}}\n"), o); });
  CHECK(has(err, "sweep.variants[0].sett"));
  err = error_of([&] { run_experiment(write("method: {preset: qlora, tuning: full}\n"), o); });
  CHECK(has(err, "full fine-tuning needs full-precision weights"));
  err = error_of([&] { run_experiment(write("warmup: {schedule: ramp}\n"), o); });
  CHECK(has(err, "unknown schedule 'ramp'"));
  err = error_of([&] { run_experiment(write("method: {scale_learnin: true}\n"), o); });
  CHECK(has(err, "scale_learning"));
  err = error_of([&] { run_experiment(write("llava: {target: leaa}\n"), o); });
  CHECK(has(err, "'llava.target' is 'leaa' (expected answer or lea)"));
  err = error_of([&] { run_experiment(write("evaluate: {scoring: [likelihood, loglik]}\n"), o); });
  CHECK(has(err, "'evaluate.scoring': unknown scoring 'loglik' (expected generate, likelihood or likelihood_mean)"));
  err = error_of([&] { run_experiment(write("evaluate: {scoring: [likelihood, likelihood]}\n"), o); });
  CHECK(has(err, "'evaluate.scoring' lists likelihood twice"));
  err = error_of([&] { run_experiment(write("evaluate: {scoring: []}\n"), o); });
  CHECK(has(err, "'evaluate.scoring' lists no scoring"));
  err = error_of([&] { run_experiment(write("llava: {device: gpu}\n"), o); });
  CHECK(has(err, "'llava.device': device 'gpu': expected cpu, cuda or cuda:N"));
  if (qs::engine::cuda_device_count() == 0) {
    err = error_of([&] { run_experiment(write("llava: {device: cuda}\n"), o); });
    // A CUDA build without a GPU says how many it sees; a CPU-only build that it has no CUDA backend.
    CHECK(has(err, qs::engine::cuda_built() ? "GPU(s) visible" : "this build has no CUDA backend"));
    err = error_of([&] { run_experiment(write("pretrain_llm: {train: {device: cuda}}\n"), o); });
    CHECK(has(err, "'pretrain_llm.train.device': device 'cuda'"));
  }
  // Nothing ran: validation comes first.
  CHECK_FALSE(fs::exists(dir / "runs" / "cache"));
  fs::remove_all(dir);
}

TEST_CASE("every experiment under experiments/ is a valid config with valid sweep variants") {
  // Paths in configs are relative to where qslaw runs: the repository root.
  struct Chdir {
    fs::path before = fs::current_path();
    Chdir() { fs::current_path(QSLAW_SOURCE_DIR); }
    ~Chdir() { fs::current_path(before); }
  } at_root;
  int files = 0;
  for (const fs::path& dir : {fs::path(QSLAW_SOURCE_DIR) / "experiments", fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny"}) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() != ".yaml") continue;
      INFO(entry.path().string());
      CHECK_NOTHROW(check_experiment(entry.path()));
      ++files;
    }
  }
  CHECK(files >= 16);
  CHECK(check_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/main.yaml") == 15);  // 5 rows x 3 seeds
  CHECK(check_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/quickstart.yaml") == 3);
}

TEST_CASE("the tiny outliers experiment reports text and image statistics for each hooked layer") {
  fs::path root = temp_root("outliers");
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  RunSummary s = run_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/outliers.yaml", o);
  const auto& r = s.results["outliers"];
  REQUIRE(r["layers"].size() == 8u);  // q, o, gate, down in 2 blocks
  for (const auto& layer : r["layers"]) {
    CHECK(layer["text_tokens"].get<int64_t>() > 0);
    CHECK(layer["image_tokens"].get<int64_t>() == 4 * 16);  // 4 images of 16 patches
    CHECK(layer["text_ratio"].get<double>() >= 1.0);
    CHECK(layer["image_kurtosis"].get<double>() > 0.0);
    for (const char* k : {"text_channels6", "image_channels6"}) {
      CHECK(layer[k].get<double>() >= 0.0);
      CHECK(layer[k].get<double>() < 0.5);  // outliers above 6x the median are at most a few channels
    }
  }
  // The per-layer plots are in the stage's outputs.
  for (const auto& entry : fs::directory_iterator(root / "cache" / "outliers")) {
    CHECK(fs::file_size(entry.path() / "outlier_ratio.svg") > 500);
    CHECK(fs::file_size(entry.path() / "outlier_channels.svg") > 500);
  }
  fs::remove_all(root);
}
