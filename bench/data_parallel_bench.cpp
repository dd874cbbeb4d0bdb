// Data-parallel training of the default multimodal model on the CPU: what
// the gradient all-reduce costs and how much of it backward hides.
//
//   ./qslaw bench data-parallel [--ranks N] [--mode full|lora|qslaw] [--batch B]
//       [--seq T] [--steps N] [--warmup N] [--bucket-kb K]
//
// Every rank trains on its share of the same global batch (B sequences of T
// tokens, 64 of them image tokens). Steps alternate between two ways of
// synchronising gradients, so both see the same machine load:
//   overlap  buckets all-reduce as backward finishes them (nn/data_parallel.h)
//   after    the same buckets, all-reduced only once backward has ended
// Rank 0 prints one JSON line per way: ms/step (median), bytes all-reduced per
// step, the all-reduce's own time per step, the time a step waited for it,
// and the share of the all-reduce hidden behind backward (1 - waited/all-reduce).
// --ranks N re-runs the command under mpirun -np N.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/functions.h"
#include "bench_modes.h"
#include "bench_util.h"
#include "engine/dist/launch.h"
#include "engine/dist/process_group.h"
#include "engine/ops.h"
#include "nn/data_parallel.h"
#include "nn/optim/optimizer.h"
#include "vision/default_llava.h"

namespace {

namespace ag = qs::autograd;
namespace e = qs::engine;
namespace dist = qs::engine::dist;

struct Options {
  std::string mode = "full";
  int ranks = 1, steps = 6, warmup = 1, bucket_kb = 1024;
  int64_t batch = 16, seq = 128;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "bench data-parallel: %s\nusage: data-parallel [--ranks N] [--mode full|lora|qslaw] [--batch B] "
               "[--seq T >= 66] [--steps N] [--warmup N] [--bucket-kb K]\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage("missing value after " + a);
      return argv[++i];
    };
    if (a == "--mode") o.mode = value();
    else if (a == "--ranks") o.ranks = qs::bench::int_arg(value(), "--ranks", 1, 1024);
    else if (a == "--steps") o.steps = qs::bench::int_arg(value(), "--steps", 1, 100000);
    else if (a == "--warmup") o.warmup = qs::bench::int_arg(value(), "--warmup", 0, 100000);
    else if (a == "--batch") o.batch = qs::bench::int_arg(value(), "--batch", 1, 65536);
    else if (a == "--seq") o.seq = qs::bench::int_arg(value(), "--seq", 66, 65536);
    else if (a == "--bucket-kb") o.bucket_kb = qs::bench::int_arg(value(), "--bucket-kb", 1, 1 << 20);
    else usage("unknown argument '" + a + "'");
  }
  if (!qs::bench::known_mode(o.mode)) usage("unknown mode '" + o.mode + "'");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.ranks > 1 && !dist::launched_by_mpi()) dist::relaunch_under_mpirun(o.ranks, argc, argv);
  dist::ProcessGroup& group = dist::world();
  qs::vision::LlavaSizes sizes = qs::vision::default_llava_sizes();
  sizes.llm.max_seq_len = std::max<int64_t>(sizes.llm.max_seq_len, o.seq);
  auto model = qs::vision::make_llava(sizes);
  qs::bench::apply_mode(*model, o.mode);  // as bench/train_step_bench.cpp
  std::vector<std::pair<std::string, ag::Var>> named;
  std::vector<ag::Var> params;
  for (auto& [name, p] : model->named_parameters()) {
    if (!p.requires_grad()) continue;
    named.emplace_back(name, p);
    params.push_back(p);
  }
  qs::nn::AdamW opt({qs::nn::ParamGroup{"all", named, 1e-4, 0.0}});
  // Two syncs over the same parameters, so each way keeps its own statistics.
  qs::nn::GradientSync overlap(params, group, static_cast<int64_t>(o.bucket_kb) * 1024);
  qs::nn::GradientSync after(params, group, static_cast<int64_t>(o.bucket_kb) * 1024);
  overlap.broadcast_parameters();

  const qs::vision::SyntheticBatch global = qs::vision::synthetic_batch(sizes, o.batch, o.seq - 64, 1);
  const dist::Share share = dist::share_of(o.batch, group.rank(), group.size());
  if (share.size() == 0) usage("--batch must give every rank at least one sequence");
  const e::Tensor ids = global.ids.slice(0, share.begin, share.end).contiguous();
  const e::Tensor targets =
      global.targets.reshape({o.batch, -1}).slice(0, share.begin, share.end).contiguous().reshape({-1});
  const e::Tensor images = global.images.slice(0, share.begin, share.end).contiguous();
  const qs::nn::TargetRows rows = qs::nn::target_rows(targets, -100);
  const double weight = static_cast<double>(share.size()) / static_cast<double>(o.batch) * group.size();

  auto step = [&](qs::nn::GradientSync& sync, bool overlapped) {
    qs::nn::LlmForward f;
    f.logit_rows = rows.rows;
    ag::Var loss = ag::cross_entropy(model->forward(ids, images, f).logits, rows.targets) * weight;
    opt.zero_grad();
    if (overlapped) sync.backward(loss);
    else loss.backward();
    sync.finish();
    opt.step();
  };
  for (int s = 0; s < o.warmup; ++s) {
    step(overlap, true);
    step(after, false);
  }
  const qs::nn::GradientSyncStats o0 = overlap.stats(), a0 = after.stats();
  std::vector<double> t_overlap, t_after;
  for (int s = 0; s < o.steps; ++s) {
    for (bool overlapped : {true, false}) {
      group.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      step(overlapped ? overlap : after, overlapped);
      (overlapped ? t_overlap : t_after).push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  if (group.rank() != 0) return 0;
  auto report = [&](const char* way, const qs::nn::GradientSync& sync, const qs::nn::GradientSyncStats& before,
                    const std::vector<double>& times) {
    const qs::nn::GradientSyncStats& st = sync.stats();
    const double steps = static_cast<double>(st.steps - before.steps);
    const double reduce = steps > 0 ? (st.reduce_seconds - before.reduce_seconds) / steps : 0.0;
    const double waited = steps > 0 ? (st.exposed_seconds - before.exposed_seconds) / steps : 0.0;
    nlohmann::json out{{"bench", "data-parallel"},
                       {"way", way},
                       {"mode", o.mode},
                       {"ranks", group.size()},
                       {"backend", group.backend()},
                       {"global_batch", o.batch},
                       {"seq", o.seq},
                       {"trainable", [&] {
                          int64_t n = 0;
                          for (const ag::Var& p : params) n += p.numel();
                          return n;
                        }()},
                       {"ms_per_step", qs::bench::median(times) * 1e3},
                       {"buckets", st.buckets},
                       {"allreduce_mb_per_step", group.size() > 1 ? st.bytes_per_step / 1e6 : 0.0},
                       {"allreduce_ms_per_step", reduce * 1e3},
                       {"waited_ms_per_step", waited * 1e3},
                       {"hidden_share", reduce > 0 ? std::max(0.0, 1.0 - waited / reduce) : 0.0}};
    std::printf("%s\n", out.dump().c_str());
  };
  report("overlap", overlap, o0, t_overlap);
  report("after", after, a0, t_after);
  dist::finalize();
  return 0;
}
