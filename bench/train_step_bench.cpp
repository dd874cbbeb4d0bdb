// The CPU training step of the default multimodal model (BENCHMARK.md), the
// same computation as bench/torch_reference.py, so bench/compare.sh can put
// the two side by side.
//
//   ./qslaw bench train-step --mode full|lora|qslaw [--threads N] [--steps N]
//       [--warmup N] [--batch B] [--seq T] [--dim D] [--check] [--profile] [--all-logits]
//
// Modes (as torch_reference.py): bench/bench_modes.h.
// Prints one JSON line: ms/step (median), tokens/s, peak RSS, losses. With
// --profile, then runs the steps again with kernel timing on
// (engine/profiler.h) and prints where a step's time goes, op by op.
// The final norm and LM head run on the positions that have a target (the
// text half of each sequence); --all-logits runs them on every position, as
// the PyTorch reference does, for a like-for-like count of the work.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/functions.h"
#include "bench_modes.h"
#include "engine/ops.h"
#include "engine/profiler.h"
#include "nn/optim/optimizer.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"
#include "vision/default_llava.h"

namespace {

namespace ag = qs::autograd;
namespace e = qs::engine;

struct Options {
  std::string mode = "full";
  int threads = 2, steps = 5, warmup = 2;
  int64_t batch = 16, seq = 128, dim = 256;
  bool check = false, profile = false, all_logits = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "bench train-step: %s\nusage: train-step --mode full|lora|qslaw [--threads N] [--steps N] "
               "[--warmup N] [--batch B] [--seq T >= 66] [--dim D] [--check] [--profile] [--all-logits]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    auto number = [&]() -> int64_t {
      const std::string v = value();
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n <= 0) usage((a + " needs a positive integer, got '" + v + "'").c_str());
      return n;
    };
    if (a == "--mode") o.mode = value();
    else if (a == "--threads") o.threads = static_cast<int>(number());
    else if (a == "--steps") o.steps = static_cast<int>(number());
    else if (a == "--warmup") o.warmup = static_cast<int>(number());
    else if (a == "--batch") o.batch = number();
    else if (a == "--seq") o.seq = number();
    else if (a == "--dim") o.dim = number();
    else if (a == "--check") o.check = true;
    else if (a == "--profile") o.profile = true;
    else if (a == "--all-logits") o.all_logits = true;
    else usage(("unknown argument '" + a + "'").c_str());
  }
  if (!qs::bench::known_mode(o.mode)) usage(("unknown mode '" + o.mode + "'").c_str());
  if (o.seq < 66) usage("--seq must be at least 66 (64 image tokens + 2 text tokens)");
  if (o.dim % 64 != 0) usage("--dim must be a multiple of 64 (8 heads, 4-bit groups of 64)");
  return o;
}

// Per op: calls, ms and share of a step, GFLOP/s where the op counts FLOPs;
// then what ran outside kernels (autograd, allocation, dispatch).
void print_profile(const std::vector<qs::engine::profiler::Entry>& entries, double step_seconds, int steps) {
  double kernels = 0, flops = 0, flop_seconds = 0;
  std::printf("\n| op | calls/step | ms/step | %% of step | GFLOP/s |\n| --- | ---: | ---: | ---: | ---: |\n");
  for (const auto& e : entries) {
    const double ms = e.seconds / steps * 1e3;
    kernels += e.seconds / steps;
    std::string rate = "";
    if (e.flops > 0) {
      rate = std::to_string(static_cast<int>(e.flops / e.seconds / 1e9));
      flops += e.flops / steps;
      flop_seconds += e.seconds / steps;
    }
    if (ms < 0.05 * step_seconds * 1e3 / 100) continue;  // under 0.05%: noise
    std::printf("| %s | %.0f | %.1f | %.1f | %s |\n", e.name.c_str(), static_cast<double>(e.calls) / steps, ms,
                100.0 * ms / (step_seconds * 1e3), rate.c_str());
  }
  std::printf("| (outside kernels) | | %.1f | %.1f | |\n", (step_seconds - kernels) * 1e3,
              100.0 * (step_seconds - kernels) / step_seconds);
  std::printf("| step (profiled, mean) | | %.1f | 100 | %.0f |\n", step_seconds * 1e3, flops / step_seconds / 1e9);
  std::printf("\nmatmul: %.1f GFLOP per step at %.0f GFLOP/s inside the kernels\n", flops / 1e9,
              flops / flop_seconds / 1e9);
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  omp_set_num_threads(o.threads);
  qs::vision::LlavaSizes sizes = qs::vision::default_llava_sizes();
  sizes.llm.dim = o.dim;
  sizes.llm.max_seq_len = std::max<int64_t>(sizes.llm.max_seq_len, o.seq);
  sizes.projector.out = o.dim;
  auto model = qs::vision::make_llava(sizes);
  qs::bench::apply_mode(*model, o.mode);
  std::vector<std::pair<std::string, ag::Var>> trainable;
  int64_t n_trainable = 0;
  for (auto& [name, p] : model->named_parameters()) {
    if (!p.requires_grad()) continue;
    trainable.emplace_back(name, p);
    n_trainable += p.numel();
  }
  qs::nn::AdamW opt({qs::nn::ParamGroup{"all", trainable, o.check ? 1e-3 : 1e-4, 0.0}});
  const qs::vision::SyntheticBatch b = qs::vision::synthetic_batch(sizes, o.batch, o.seq - 64, 1);
  const qs::nn::TargetRows rows = qs::nn::target_rows(b.targets, -100);
  std::vector<double> losses;
  auto step = [&] {
    ag::Var loss;
    if (o.all_logits) {
      ag::Var logits = model->forward(b.ids, b.images).logits;
      loss = ag::cross_entropy(ag::reshape(logits, {-1, sizes.llm.vocab_size}), b.targets);
    } else {
      qs::nn::LlmForward f;
      f.logit_rows = rows.rows;
      loss = ag::cross_entropy(model->forward(b.ids, b.images, f).logits, rows.targets);
    }
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.data().item<double>());
  };
  nlohmann::json out{{"impl", "qslaw"}, {"mode", o.mode}, {"all_logits", o.all_logits}};
  if (o.check) {
    for (int s = 0; s < o.steps; ++s) step();
    const bool ok = losses.back() < 0.97 * losses.front();  // 3%: the frozen modes train few parameters
    out["check"] = ok;
    out["losses"] = losses;
    std::printf("%s\n", out.dump().c_str());
    return ok ? 0 : 1;
  }
  for (int s = 0; s < o.warmup; ++s) step();
  std::vector<double> times;
  for (int s = 0; s < o.steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const double tokens = static_cast<double>(o.batch * o.seq);
  out.update({{"threads", o.threads},
              {"batch", o.batch},
              {"seq", o.seq},
              {"dim", o.dim},
              {"ms_per_step", median * 1e3},
              {"tokens_per_s", tokens / median},
              {"peak_rss_mb", peak_rss_mb()},
              {"trainable", n_trainable},
              {"loss_first", losses.front()},
              {"loss_last", losses.back()}});
  std::printf("%s\n", out.dump().c_str());
  if (o.profile) {
    qs::engine::profiler::enable(true);
    std::vector<double> profiled;
    for (int s = 0; s < o.steps; ++s) {
      const auto t0 = std::chrono::steady_clock::now();
      step();
      profiled.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    qs::engine::profiler::enable(false);
    double total = 0;
    for (double t : profiled) total += t;
    print_profile(qs::engine::profiler::entries(), total / o.steps, o.steps);
  }
  return 0;
}
