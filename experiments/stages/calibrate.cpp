// Stage calibrate: quantize the pretrained LLM (min-max, NF4 or learnable
// weight clipping) at each configured bit width and group size, and report
// validation perplexity, bits per parameter and weight memory per method.
// Outputs: results (the table) and, for each quantized variant, its packed
// weights (<method>_<bits>b_g<group>.h5).
#include <chrono>
#include <cmath>
#include <map>

#include "data/lm_dataset.h"
#include "data/random.h"
#include "data/tokenizer.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "experiments/stage.h"
#include "experiments/stages/lm_probes.h"
#include "experiments/stages/lm_training.h"
#include "experiments/stages/pretrain_config.h"
#include "quant/footprint.h"
#include "quant/lwc.h"
#include "quant/nf4_linear.h"
#include "quant/quant_linear.h"
#include "quant/scale_learning.h"
#include "quant/surgery.h"

namespace qs::experiments {

namespace {

struct CalibrateConfig {
  std::vector<std::string> methods{"fp", "minmax", "nf4", "lwc"};
  std::vector<int64_t> bits{4, 3, 2};
  std::vector<int64_t> group_sizes{64, 128};
  std::string layers = "layers.0-.*_proj";
  int64_t samples = 32;
  int64_t heldout_samples = 8;
  int64_t seq_len = 128;
  quant::LwcConfig lwc;
  int64_t eval_batches = 16;
  int64_t nf4_block = 64;
  bool nf4_double_quant = true;
  // The LLM to quantize: pretrain_llm's model.h5 (""), or another file of
  // its weights - a training checkpoint.h5 (its "model." entries), e.g. a
  // copy taken mid-run to measure sensitivity against training length.
  std::string weights;
  // QSLAW's factors alone: alpha learned on text (no LoRA, nothing else
  // trainable) over the LWC grid of (bits, group_size); steps 0 = off.
  struct ScaleLearning {
    int64_t bits = 3, group_size = 128, start_layer = -1;
    LmTrainConfig train;
  } scale_learning;
};

CalibrateConfig::ScaleLearning read_scale_learning(ConfigSection s) {
  CalibrateConfig::ScaleLearning c;
  c.bits = s.get<int64_t>("bits", c.bits);
  c.group_size = s.get<int64_t>("group_size", c.group_size);
  c.start_layer = s.get<int64_t>("start_layer", c.start_layer);
  c.train.steps = s.get<int64_t>("steps", 0);
  c.train.batch_size = s.get<int64_t>("batch_size", 8);
  c.train.lr = s.get<double>("lr", 2e-3);
  s.finish();
  QS_CHECK(c.train.steps >= 0 && c.train.batch_size > 0 && c.train.lr > 0, "config {}: '{}' needs steps >= 0, "
           "batch_size > 0 and lr > 0", s.file(), s.path_of("steps"));
  // METHOD.md: AdamW without weight decay (decay would pull alpha to 0), cosine with 3% warmup.
  c.train.weight_decay = 0.0;
  c.train.warmup_ratio = 0.03;
  c.train.min_lr_ratio = 0.0;
  c.train.log_every = std::max<int64_t>(1, c.train.steps / 20);
  c.train.eval_every = std::max<int64_t>(1, c.train.steps);
  c.train.checkpoint_every = std::max<int64_t>(1, c.train.steps / 4);
  return c;
}

CalibrateConfig read_config(ConfigSection& s) {
  CalibrateConfig c;
  c.methods = s.get<std::vector<std::string>>("methods", c.methods);
  for (const std::string& m : c.methods) {
    QS_CHECK(m == "fp" || m == "minmax" || m == "nf4" || m == "lwc",
             "config {}: '{}' lists unknown method '{}' (expected fp, minmax, nf4, lwc)", s.file(),
             s.path_of("methods"), m);
  }
  auto ints = [&](const char* key, std::vector<int64_t> fallback) {
    if (!s.has(key)) {
      s.get<std::vector<std::string>>(key, {});
      return fallback;
    }
    std::vector<int64_t> out;
    for (const std::string& v : s.get<std::vector<std::string>>(key, {})) {
      try {
        out.push_back(std::stoll(v));
      } catch (const std::exception&) {
        fail("config {}: '{}' must be a list of integers, got '{}'", s.file(), s.path_of(key), v);
      }
    }
    return out;
  };
  c.bits = ints("bits", c.bits);
  for (int64_t b : c.bits) {
    QS_CHECK(b == 2 || b == 3 || b == 4 || b == 8, "config {}: '{}' holds {}: bits must be 2, 3, 4 or 8", s.file(),
             s.path_of("bits"), b);
  }
  c.group_sizes = ints("group_sizes", c.group_sizes);
  c.layers = s.get<std::string>("layers", c.layers);
  quant::path_pattern(c.layers);  // a bad pattern fails now
  c.samples = s.get<int64_t>("samples", c.samples);
  c.heldout_samples = s.get<int64_t>("heldout_samples", c.heldout_samples);
  c.seq_len = s.get<int64_t>("seq_len", c.seq_len);
  c.lwc.epochs = s.get<int64_t>("epochs", c.lwc.epochs);
  c.lwc.lr = s.get<double>("lr", c.lwc.lr);
  c.lwc.batch_size = s.get<int64_t>("batch_size", c.lwc.batch_size);
  c.eval_batches = s.get<int64_t>("eval_batches", c.eval_batches);
  c.nf4_block = s.get<int64_t>("nf4_block", c.nf4_block);
  c.nf4_double_quant = s.get<bool>("nf4_double_quant", c.nf4_double_quant);
  c.weights = s.get<std::string>("weights", c.weights);
  c.scale_learning = read_scale_learning(s.section("scale_learning"));
  if (c.scale_learning.train.steps > 0) {
    const bool calibrated = std::find(c.methods.begin(), c.methods.end(), "lwc") != c.methods.end() &&
                            std::find(c.bits.begin(), c.bits.end(), c.scale_learning.bits) != c.bits.end() &&
                            std::find(c.group_sizes.begin(), c.group_sizes.end(), c.scale_learning.group_size) !=
                                c.group_sizes.end();
    QS_CHECK(calibrated, "config {}: '{}' learns alpha on the LWC grid of {} bits, group {}: 'methods' must list lwc "
             "and 'bits'/'group_sizes' must hold them", s.file(), s.path_of("scale_learning"),
             c.scale_learning.bits, c.scale_learning.group_size);
  }
  QS_CHECK(c.samples > 0 && c.heldout_samples > 0 && c.seq_len > 0 && c.lwc.epochs >= 0 && c.lwc.batch_size > 0,
           "config {}: '{}' needs positive samples, heldout_samples, seq_len, batch_size", s.file(),
           s.path_of(""));
  return c;
}

nlohmann::json run(StageContext& ctx) {
  CalibrateConfig c = read_config(ctx.config);
  RunLog& log = *ctx.log;
  QS_CHECK(ctx.upstream.count("pretrain_llm"), "[calibrate] needs the pretrain_llm stage before it in 'stages'");
  ConfigSection pre_section(ctx.experiment["pretrain_llm"] ? ctx.experiment["pretrain_llm"] : YAML::Node(YAML::NodeType::Map),
                            "pretrain_llm", ctx.file);
  PretrainConfig pre = read_pretrain_config(pre_section, ctx.seed);
  const auto& dir = ctx.upstream.at("pretrain_llm");
  data::Tokenizer tok = data::Tokenizer::load(dir / "tokenizer.json");
  engine::TensorFile weights = engine::load_tensor_file(c.weights.empty() ? dir / "model.h5" : std::filesystem::path(c.weights));
  if (!c.weights.empty()) {
    // A training checkpoint holds "model.<name>" and "optim.<name>": keep the model's.
    std::map<std::string, engine::Tensor> model;
    for (auto& [k, t] : weights.tensors) {
      if (k.rfind("model.", 0) == 0) model[k.substr(6)] = t;
    }
    if (!model.empty()) weights.tensors = std::move(model);
    const auto step = weights.attributes.find("step");
    log.line(fmt::format("[calibrate] quantizing {}{}", c.weights,
                         step == weights.attributes.end() ? "" : " (training step " + step->second + ")"));
  }
  pre.model.vocab_size = tok.vocab_size();
  QS_CHECK(c.seq_len <= pre.model.max_seq_len, "[calibrate] seq_len {} exceeds the model's max_seq_len {}", c.seq_len,
           pre.model.max_seq_len);

  data::Corpus corpus = data::make_corpus(pre.corpus);
  ProbeConfig probe_config = pre.probes;
  probe_config.eval_batches = c.eval_batches;
  probe_config.batch_size = pre.train.batch_size;
  const TextProbes probes = make_text_probes(corpus, pre.corpus, tok, pre.train.seq_len, probe_config, ctx.seed);
  // Calibration and held-out sequences: random rows of the packed training text.
  engine::Tensor train = data::pack_sequences(corpus.train, tok, c.seq_len);
  const engine::Tensor& train_rows = train;
  data::Rng rng(ctx.seed + 17);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < c.samples + c.heldout_samples; ++i) rows.push_back(rng.below(train.size(0)));
  engine::Tensor picked = engine::index_select(train, 0, engine::from_vector(rows)).slice(1, 0, c.seq_len).contiguous();
  engine::Tensor calib = picked.slice(0, 0, c.samples).contiguous();
  engine::Tensor heldout = picked.slice(0, c.samples, c.samples + c.heldout_samples).contiguous();

  auto fresh_model = [&] {
    auto m = std::make_unique<nn::Llama>(pre.model);
    m->load_state_dict(weights.tensors);
    m->eval();
    return m;
  };
  const quant::PathFilter select = quant::path_pattern(c.layers);
  nlohmann::json table = nlohmann::json::array();
  auto report = [&](const std::string& method, int64_t bits, int64_t group, nn::Llama& model, double seconds,
                    double mse_ratio) {
    const TextScores scores = score_text(model, tok, probes);
    const quant::WeightFootprint f = quant::weight_footprint(model);
    nlohmann::json row{{"method", method},
                       {"bits", bits},
                       {"group_size", group},
                       {"val_ppl", scores.world_ppl},
                       {"bits_per_param", f.quantized_params ? f.quantized_bits_per_param() : 32.0},
                       {"weight_mb", static_cast<double>(f.total_bytes) / (1 << 20)},
                       {"seconds", seconds}};
    row.update(scores.json());
    if (mse_ratio > 0) row["lwc_mse_ratio"] = mse_ratio;
    log.line(fmt::format("[calibrate] {:<7} {:>2} bits  g{:<4} {}  {:5.2f} bits/param  {:6.2f} MB", method, bits, group,
                         scores.summary(), row["bits_per_param"].get<double>(), row["weight_mb"].get<double>()));
    table.push_back(row);
  };
  auto timed = [](auto&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };

  for (const std::string& method : c.methods) {
    if (method == "fp") {
      auto m = fresh_model();
      report("fp", 32, 0, *m, 0.0, 0.0);
    } else if (method == "nf4") {
      auto m = fresh_model();
      double secs = timed([&] { quant::nf4_linears(*m, c.nf4_block, c.nf4_double_quant, select); });
      report("nf4", 4, c.nf4_block, *m, secs, 0.0);
    } else {
      for (int64_t bits : c.bits) {
        for (int64_t group : c.group_sizes) {
          auto m = fresh_model();
          double mse_ratio = 0.0;
          const quant::QuantSpec spec{.bits = static_cast<int>(bits), .group_size = group};
          double secs = timed([&] {
            auto replaced = quant::quantize_linears(*m, spec, select);
            if (method == "lwc") {
              auto blocks = quant::calibrate_lwc(*m, calib, heldout, c.lwc);
              double before = 0, after = 0;
              for (auto& b : blocks) {
                before += b.mse_minmax;
                after += b.mse_lwc;
              }
              mse_ratio = before > 0 ? after / before : 0.0;
            }
            for (const std::string& path : replaced) dynamic_cast<quant::QuantLinear&>(m->submodule(path)).to_real();
          });
          report(method, bits, group, *m, secs, mse_ratio);
          engine::TensorFile out;
          out.tensors = m->state_dict();
          out.attributes["quant"] = fmt::format("{} {}", method, spec.str());
          engine::save_tensor_file(ctx.artifacts / fmt::format("{}_{}b_g{}.h5", method, bits, group), out);
        }
      }
    }
  }
  if (c.scale_learning.train.steps > 0) {
    const auto& sl = c.scale_learning;
    const std::string grid_file = fmt::format("lwc_{}b_g{}.h5", sl.bits, sl.group_size);
    const auto grid = engine::load_tensor_file(ctx.artifacts / grid_file).tensors;
    auto m = fresh_model();
    const quant::QuantSpec spec{.bits = static_cast<int>(sl.bits), .group_size = sl.group_size};
    quant::quantize_linears(*m, spec, select);
    quant::for_each_quant(*m, [&](const std::string& path, quant::QuantLinear& q) {
      q.set_grid({grid.at(path + ".scale"), grid.at(path + ".zero")});
    });
    const int64_t layers = quant::enable_scale_learning(*m, sl.start_layer);
    m->set_requires_grad(false);
    quant::set_alpha_trainable(*m);
    LmTrainConfig train = sl.train;
    train.seq_len = c.seq_len;
    log.line(fmt::format("[calibrate] scale learning alone: alpha on {} layers over the LWC grid {}, {} steps of {} x {} "
                         "text tokens, lr {}", layers, grid_file, train.steps, train.batch_size, train.seq_len, train.lr));
    // Every rank resumes from rank 0's checkpoint; each removes only its own outputs' copy.
    const auto checkpoint = ctx.checkpoints / "scale_learning_checkpoint.h5";
    double secs = timed([&] {
      train_lm(*m, train_rows, probes.world, train, ctx.seed + 29, checkpoint, log, "calibrate", -1,
               to_yaml(ctx.config.node()));
    });
    std::filesystem::remove(ctx.artifacts / checkpoint.filename());  // resume state only, as in pretrain_llm
    m->eval();
    const double shift = quant::mean_alpha_shift(*m);
    quant::fold_alpha(*m);
    report("lwc+alpha", sl.bits, sl.group_size, *m, secs, 0.0);
    table.back()["alpha_shift"] = shift;
    log.line(fmt::format("[calibrate] alpha folded into the codes; mean |alpha - 1| = {:.4f}", shift));
  }
  // The table, as Markdown, for the log and the closing note; "-" where a
  // probe does not apply (no English source, no knowledge base).
  auto cell = [](const nlohmann::json& v, const char* f, double scale) {
    return v.is_number() ? fmt::format(fmt::runtime(f), scale * v.get<double>()) : std::string("-");
  };
  log.line("| method | bits | group | world ppl | English ppl | recall % | bits/param | weight MB |");
  log.line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (auto& r : table) {
    log.line(fmt::format("| {} | {} | {} | {:.3f} | {} | {} | {:.2f} | {:.2f} |", r["method"].get<std::string>(),
                         r["bits"].get<int64_t>(), r["group_size"].get<int64_t>(), r["val_ppl"].get<double>(),
                         cell(r["english_ppl"], "{:.2f}", 1.0), cell(r["recall"], "{:.1f}", 100.0),
                         r["bits_per_param"].get<double>(), r["weight_mb"].get<double>()));
  }
  if (!probes.recall.empty()) {
    log.line(fmt::format("recall: {} held-out paraphrase probes, chance {:.1f}%", probes.recall.size(),
                         100 * table[0]["recall_chance"].get<double>()));
  }
  return nlohmann::json{{"table", table}};
}

}  // namespace

StageDef calibrate_stage() {
  return {"calibrate", "quantize the pretrained LLM and compare methods by perplexity",
          [](ConfigSection& s) { read_config(s); }, run};
}

}  // namespace qs::experiments
