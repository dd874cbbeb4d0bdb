// The pretrain_llm stage end to end at the tiny profile, stage caching, and
// kill-and-resume reproducing the uninterrupted run.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/corpus.h"
#include "data/lm_dataset.h"
#include "experiments/runner.h"
#include "experiments/stages/clip_probes.h"
#include "experiments/stages/lm_training.h"
#include "engine/io/tensor_file.h"
#include "support.h"

using qs::test::temp_root;

using namespace qs::experiments;
namespace fs = std::filesystem;
namespace e = qs::engine;


TEST_CASE("the tiny pretrain_llm experiment runs, writes its run directory and is cached") {
  fs::path root = temp_root("pretrain");
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  const fs::path cfg = fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pretrain_llm.yaml";
  RunSummary first = run_experiment(cfg, o);
  for (const char* f : {"config.yaml", "metrics.jsonl", "log.txt", "results.json"}) {
    CHECK(fs::exists(first.run_dir / f));
  }
  const auto& r = first.results["pretrain_llm"];
  MESSAGE("tiny pretrain: val ppl " << r["val_ppl"].get<double>() << ", " << r["tokens_per_second"].get<double>() << " tok/s");
  CHECK(r["val_ppl"].get<double>() < 400.0);  // vocab 400: chance level is 400
  CHECK(r["steps"].get<int64_t>() == 30);
  std::ifstream metrics(first.run_dir / "metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    auto j = nlohmann::json::parse(line);
    CHECK(j.contains("step"));
    ++lines;
  }
  CHECK(lines >= 6);
  // Same inputs: the stage is reused, not recomputed.
  RunSummary second = run_experiment(cfg, o);
  CHECK(second.results["pretrain_llm"]["val_loss"] == r["val_loss"]);
  std::ifstream log(second.run_dir / "log.txt");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(text.find("reusing cached outputs") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("pretraining on creatures and English reports world and English perplexity and fact recall") {
  fs::path root = temp_root("pretrain_english");
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  const std::string fixtures = std::string(QSLAW_SOURCE_DIR) + "/tests/fixtures/english";
  o.overrides = {"pretrain_llm.corpus.english.wordnet=" + fixtures + "/wordnet",
                 "pretrain_llm.corpus.english.gcide=" + fixtures + "/gcide.dict",
                 "pretrain_llm.corpus.english.val_fraction=0.5"};
  RunSummary run = run_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pretrain_llm.yaml", o);
  const auto& p = run.results["pretrain_llm"]["probes"];
  INFO(p.dump());
  CHECK(p["world_ppl"].get<double>() > 1.0);
  CHECK(p["english_ppl"].get<double>() > 1.0);
  CHECK(p["recall_chance"].get<double>() == doctest::Approx(0.25));
  const double recall = p["recall"].get<double>();
  CHECK(recall >= 0.0);
  CHECK(recall <= 1.0);
  CHECK(p["recall_by_attribute"].size() >= 5);
  std::ifstream log(run.run_dir / "log.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(text.find("recall") != std::string::npos);
  CHECK(text.find("val English documents") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("a run killed mid-training resumes from its checkpoint to the same loss") {
  fs::path root = temp_root("resume");
  fs::create_directories(root);
  qs::data::CorpusConfig cc;
  cc.documents = 300;
  qs::data::Corpus corpus = qs::data::make_corpus(cc);
  qs::data::Tokenizer tok = qs::data::Tokenizer::train(corpus.train, 320);
  e::Tensor train = qs::data::pack_sequences(corpus.train, tok, 16);
  qs::nn::LlamaConfig mc;
  mc.vocab_size = tok.vocab_size();
  mc.dim = 16;
  mc.n_layers = 2;
  mc.n_heads = 2;
  mc.ffn_hidden = 32;
  mc.max_seq_len = 16;
  LmTrainConfig tc;
  tc.steps = 12;
  tc.batch_size = 2;
  tc.seq_len = 16;
  tc.checkpoint_every = 5;
  tc.eval_every = 100;
  RunLog log({}, false);

  qs::nn::Llama whole(mc);
  LmTrainResult a = train_lm(whole, train, train, tc, 3, root / "a.h5", log, "t");

  qs::nn::Llama killed(mc);
  train_lm(killed, train, train, tc, 3, root / "b.h5", log, "t", /*stop_after=*/8);  // dies after step 8
  qs::nn::Llama resumed(mc);  // a fresh process: fresh weights, then the checkpoint of step 5
  LmTrainResult b = train_lm(resumed, train, train, tc, 3, root / "b.h5", log, "t");
  CHECK(b.resumed);
  CHECK(b.train_loss == a.train_loss);
  for (auto& [name, p] : whole.named_parameters()) {
    CAPTURE(name);
    CHECK(e::equal(p.data(), resumed.parameter(name).data()));
  }
  // Killed after the last checkpoint, before the stage recorded its results:
  // the rerun has no step left, and still reports the run's loss and speed.
  qs::nn::Llama finished(mc);
  LmTrainResult c = train_lm(finished, train, train, tc, 3, root / "b.h5", log, "t");
  CHECK(c.resumed);
  CHECK(c.steps_done == tc.steps);
  CHECK(c.train_loss == a.train_loss);
  CHECK(c.seconds > 0.5 * b.seconds);  // the checkpoint carries the time trained so far
  CHECK(c.tokens_per_second > 0);
  fs::remove_all(root);
}

TEST_CASE("the tiny calibrate experiment prints a table for every method, bit width and group") {
  fs::path root = temp_root("calibrate");
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  RunSummary s = run_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/calibrate.yaml", o);
  const auto& table = s.results["calibrate"]["table"];
  REQUIRE(table.size() == 7);  // fp, minmax x {4, 2}, nf4, lwc x {4, 2}, then alpha learned on the 2-bit grid
  double fp_ppl = table[0]["val_ppl"].get<double>();
  for (const auto& row : table) {
    CAPTURE(row.dump());
    CHECK(std::isfinite(row["val_ppl"].get<double>()));
    CHECK(row["recall"].is_number());  // the tiny world has 40 creatures
    CHECK(row["recall_chance"].get<double>() == doctest::Approx(0.25));
    CHECK(row["english_ppl"].is_null());  // and no English
    if (row["method"] != "fp") CHECK(row["weight_mb"].get<double>() < table[0]["weight_mb"].get<double>());
  }
  // Scale learning alone: alpha moved, was folded into 2-bit codes (the same memory as the LWC row).
  CHECK(table[6]["method"] == "lwc+alpha");
  CHECK(table[6]["bits"] == 2);
  CHECK(table[6]["alpha_shift"].get<double>() > 0.0);
  CHECK(table[6]["weight_mb"].get<double>() == doctest::Approx(table[5]["weight_mb"].get<double>()));
  CHECK(table[1]["bits_per_param"].get<double>() == doctest::Approx(4.0 + 64.0 / 16));  // f32 scale + zero per group of 16
  CHECK(fp_ppl > 1.0);
  // --force calibrate recomputes calibrate only; pretrain_llm stays cached.
  o.force = {"calibrate"};
  RunSummary again = run_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/calibrate.yaml", o);
  std::ifstream log(again.run_dir / "log.txt");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(text.find("[pretrain_llm] reusing cached outputs") != std::string::npos);
  CHECK(text.find("[calibrate] reusing cached outputs") == std::string::npos);
  // calibrate.weights quantizes another file of the LLM's weights: here one
  // laid out as a training checkpoint, whose "model." entries are the weights.
  qs::engine::TensorFile saved;
  for (const auto& entry : fs::directory_iterator(root / "cache" / "pretrain_llm")) {
    for (auto& [k, t] : qs::engine::load_tensor_file(entry.path() / "model.h5").tensors) saved.tensors["model." + k] = t;
  }
  saved.attributes["step"] = "30";  // as a training checkpoint records it
  const std::string checkpoint = (root / "checkpoint_layout.h5").string();
  qs::engine::save_tensor_file(checkpoint, saved);
  o.force = {};
  o.overrides = {"calibrate.weights=" + checkpoint, "calibrate.methods=[fp]", "calibrate.scale_learning.steps=0"};
  RunSummary from_checkpoint = run_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/calibrate.yaml", o);
  const auto& fp_row = from_checkpoint.results["calibrate"]["table"][0];
  CHECK(fp_row["val_ppl"].get<double>() == doctest::Approx(fp_ppl).epsilon(1e-9));
  std::ifstream log2(from_checkpoint.run_dir / "log.txt");
  const std::string text2((std::istreambuf_iterator<char>(log2)), std::istreambuf_iterator<char>());
  CHECK(text2.find("(training step 30)") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("the tiny pretrain_clip experiment trains and reports retrieval and probes with chance levels") {
  fs::path root = temp_root("clip");
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  RunSummary s = run_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pretrain_clip.yaml", o);
  const auto& r = s.results["pretrain_clip"];
  for (const char* key : {"retrieval_top1", "retrieval_top5", "shape_binding", "probe_count", "probe_color", "probe_shape",
                          "probe_size", "probe_shape_present", "probe_shape_class", "probe_shape_object", "probe_color_object",
                          "probe_shape_chance"}) {
    CAPTURE(key);
    const double v = r[key].get<double>();
    CHECK(v >= 0.0);
    CHECK(v <= 1.0);
  }
  CHECK(r["retrieval_chance_top1"].get<double>() == doctest::Approx(1.0 / 32));
  CHECK(fs::exists(root / "cache" / "datasets"));

  // `qslaw probe` on the saved ViT (canvas 32, read from its position
  // embeddings) with the stage's seed, scenes and steps gives the stage's numbers.
  const fs::path artifact = fs::directory_iterator(root / "cache" / "pretrain_clip")->path();
  SavedVitProbe request;
  request.weights = artifact;
  request.scenes = 64;
  request.steps = 50;
  request.dataset_dir = root / "cache" / "datasets";
  for (const ProbeResult& p : probe_saved_vit(request)) {
    const std::string key = "probe_" + p.name + (p.readout == "patches" ? "" : "_" + p.readout);
    CAPTURE(key);
    CHECK(p.accuracy == r[key].get<double>());
  }
  request.weights = artifact / "clip.h5";  // both towers: not a ViT of its own
  CHECK(qs::test::has(qs::test::error_of([&] { probe_saved_vit(request); }), "not a ViT saved by pretrain_clip"));

  // pretrain_clip reads only the tokenizer of pretrain_llm: a longer LLM
  // pretraining keeps the cached ViT; another tokenizer retrains it.
  auto log_of = [](const RunSummary& run) {
    std::ifstream in(run.run_dir / "log.txt");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  o.overrides = {"pretrain_llm.train.steps=31"};
  const std::string longer = log_of(run_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pretrain_clip.yaml", o));
  CHECK(longer.find("[pretrain_llm] reusing cached outputs") == std::string::npos);
  CHECK(longer.find("[pretrain_clip] reusing cached outputs") != std::string::npos);
  o.overrides = {"pretrain_llm.tokenizer.vocab_size=380"};
  const std::string other = log_of(run_experiment(fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pretrain_clip.yaml", o));
  CHECK(other.find("[pretrain_clip] reusing cached outputs") == std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("the object probe reads the patch under the object's centre") {
  qs::data::Scene scene;
  scene.canvas = 64;
  qs::data::Object o{};
  o.x = 20.0;
  o.y = 50.0;
  scene.objects.push_back(o);
  qs::vision::VitConfig c;
  c.image_size = 64;
  c.patch_size = 8;
  CHECK(object_patch(scene, c) == 6 * 8 + 2);
  c.image_size = 32;  // a 64-pixel canvas seen at 32: a 4 x 4 grid
  CHECK(object_patch(scene, c) == 3 * 4 + 1);
  scene.objects[0].x = 63.9;
  CHECK(object_patch(scene, c) == 3 * 4 + 3);
}
