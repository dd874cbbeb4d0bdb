#include <filesystem>
#include <fstream>
#include <functional>

#include "experiments/config.h"
#include "experiments/runner.h"
#include "support.h"

using qs::test::error_of;
using qs::test::has;

using namespace qs::experiments;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("qslaw_cfg_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};


const char* kTiny = R"(name: t
seed: 1
stages: [pretrain_llm]
pretrain_llm:
  corpus: {documents: 200, val_fraction: 0.1}
  tokenizer: {vocab_size: 300}
  model: {dim: 16, n_layers: 1, n_heads: 2, ffn_hidden: 32, max_seq_len: 32}
  train: {steps: 2, batch_size: 2, seq_len: 16}
)";

RunOptions quiet(const fs::path& root, std::vector<std::string> overrides = {}) {
  RunOptions o;
  o.runs_root = root;
  o.progress = false;
  o.overrides = std::move(overrides);
  return o;
}

}  // namespace

TEST_CASE("include merges base files and overrides replace values") {
  TempDir d;
  d.write("base.yaml", "a: {x: 1, y: 2}\nb: [1, 2]\nname: base\n");
  auto top = d.write("top.yaml", "include: base.yaml\na: {y: 5}\nname: top\n");
  ExperimentFile f = load_experiment(top, {"a.x=10", "c.d=hello"});
  CHECK(f.root["a"]["x"].as<int>() == 10);
  CHECK(f.root["a"]["y"].as<int>() == 5);
  CHECK(f.root["b"].size() == 2);
  CHECK(f.root["name"].as<std::string>() == "top");
  CHECK(f.root["c"]["d"].as<std::string>() == "hello");
  CHECK(!f.root["include"]);
}

TEST_CASE("an unknown key is named with the closest valid key") {
  TempDir d;
  std::string cfg = kTiny;
  cfg.replace(cfg.find("batch_size"), 10, "batch_szie");
  auto path = d.write("bad.yaml", cfg);
  std::string m = error_of([&] { run_experiment(path, quiet(d.path)); });
  CHECK(m.find(path.string()) != std::string::npos);
  CHECK(m.find("unknown key 'pretrain_llm.train.batch_szie'") != std::string::npos);
  CHECK(m.find("did you mean 'pretrain_llm.train.batch_size'") != std::string::npos);
  CHECK(!fs::exists(d.path / "t"));  // nothing started
}

TEST_CASE("a wrong type names the key and the value") {
  TempDir d;
  auto path = d.write("cfg.yaml", kTiny);
  std::string m = error_of([&] { run_experiment(path, quiet(d.path, {"pretrain_llm.model.dim=wide"})); });
  CHECK(m.find("key 'pretrain_llm.model.dim' must be an integer, got 'wide'") != std::string::npos);
}

TEST_CASE("missing files, bad overrides, unknown stages and missing required keys") {
  TempDir d;
  CHECK(error_of([&] { run_experiment(d.path / "nope.yaml", quiet(d.path)); }).find("cannot open file") != std::string::npos);
  auto path = d.write("cfg.yaml", kTiny);
  CHECK(error_of([&] { run_experiment(path, quiet(d.path, {"no_equals_sign"})); }).find("expected key.path=value") != std::string::npos);
  CHECK(error_of([&] { run_experiment(path, quiet(d.path, {"stages=[pretrain_lm]"})); }).find("did you mean 'pretrain_llm'") != std::string::npos);
  auto noname = d.write("noname.yaml", "stages: [pretrain_llm]\n");
  CHECK(error_of([&] { run_experiment(noname, quiet(d.path)); }).find("missing required key 'name'") != std::string::npos);
  auto inc = d.write("inc.yaml", "include: missing_base.yaml\nname: x\n");
  CHECK(error_of([&] { run_experiment(inc, quiet(d.path)); }).find("missing_base.yaml does not exist") != std::string::npos);
  auto syntax = d.write("syntax.yaml", "name: [unclosed\n");
  CHECK(error_of([&] { run_experiment(syntax, quiet(d.path)); }).find("line") != std::string::npos);
  CHECK(error_of([&] { run_experiment(path, quiet(d.path, {"pretrain_llm.train.seq_len=64"})); }).find("exceeds") != std::string::npos);
}

TEST_CASE("closest suggests only near misses") {
  CHECK(closest("lerning_rate", {"learning_rate", "steps"}) == "learning_rate");
  CHECK(closest("zzz", {"learning_rate", "steps"}).empty());
}

TEST_CASE("hostile values are refused before any work: empty overrides, path-like names, zero or huge sizes, bad devices") {
  TempDir d;
  auto path = d.write("cfg.yaml", kTiny);
  // An empty value would silently mean "the code's default".
  CHECK(has(error_of([&] { run_experiment(path, quiet(d.path, {"pretrain_llm.train.steps="})); }), "empty value for 'pretrain_llm.train.steps'"));
  CHECK(has(error_of([&] { run_experiment(path, quiet(d.path, {"name=../../x"})); }), "'name' must be"));
  CHECK(has(error_of([&] { run_experiment(path, quiet(d.path, {"name=/tmp/x"})); }), "'name' must be"));
  CHECK(has(error_of([&] { run_experiment(path, quiet(d.path, {"name=" + std::string(300, 'a')})); }), "'name' must be"));
  CHECK(has(error_of([&] { run_experiment(path, quiet(d.path, {"pretrain_llm.train.device=cuda:99999999999"})); }), "cuda:N"));
  CHECK(has(error_of([&] { run_experiment(path, quiet(d.path, {"pretrain_llm.model.n_heads=0"})); }), "n_heads"));
  CHECK(has(error_of([&] { run_experiment(path, quiet(d.path, {"pretrain_llm.train.batch_size=1000000000"})); }),
            "'pretrain_llm.train.batch_size' must be in [1, 65536]"));
  const fs::path clip = fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pretrain_clip.yaml";
  CHECK(has(error_of([&] { check_experiment(clip, {"pretrain_clip.vision.patch_size=0"}); }), "'pretrain_clip.vision.patch_size' must be in"));
  CHECK(has(error_of([&] { check_experiment(clip, {"pretrain_clip.vision.heads=0"}); }), "'pretrain_clip.vision.heads' must be in"));
  CHECK(has(error_of([&] { check_experiment(clip, {"pretrain_clip.text.heads=0"}); }), "'pretrain_clip.text.heads' must be in"));
  const fs::path pipeline = fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pipeline.yaml";
  CHECK(has(error_of([&] { check_experiment(pipeline, {"instruct.train.batch_size=1000000000"}); }), "'instruct.train.batch_size' must be in [1, 4096]"));
  // Nothing was created for the refused runs.
  CHECK(!fs::exists(d.path / "t"));
  CHECK(!fs::exists(d.path.parent_path() / "x"));
}

TEST_CASE("an override of a key that a sweep variant sets is refused, naming the variant") {
  const fs::path pipeline = fs::path(QSLAW_SOURCE_DIR) / "experiments/tiny/pipeline.yaml";
  const std::string e = error_of([&] { check_experiment(pipeline, {"method.preset=foo"}); });
  CHECK(has(e, "sweep variant 'QLoRA' sets 'method.preset'"));
  CHECK(has(error_of([&] { check_experiment(pipeline, {"method=ab"}); }), "sets 'method.preset'"));
  CHECK(has(error_of([&] { check_experiment(pipeline, {"method.seed=3"}); }), "sweep.seeds"));
  CHECK(check_experiment(pipeline, {"method.bits=4"}) == 2);  // a key no variant sets is fine
}

TEST_CASE("a config whose keys are not plain names (found by fuzzing) is refused naming the file") {
  const fs::path fuzzed = fs::path(QSLAW_SOURCE_DIR) / "tests/fixtures/fuzz/config_map_key.yaml";
  CHECK(has(error_of([&] { check_experiment(fuzzed); }), "config_map_key.yaml"));
  TempDir d;
  auto path = d.write("mapkey.yaml", "name: x\nstages: [pretrain_llm]\nsweep:\n  {a: 1}: 2\n");
  CHECK(has(error_of([&] { check_experiment(path); }), "mapkey.yaml"));
  auto name_list = d.write("namelist.yaml", "name: [a, b]\nstages: [pretrain_llm]\n");
  CHECK(has(error_of([&] { check_experiment(name_list); }), "namelist.yaml"));
}
