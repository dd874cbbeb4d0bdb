// Tuning memory and time where weights dominate: one LoRA tuning step of
// LLaMA-shaped LLMs of growing size (random weights; up to ~1B parameters),
// for each way of holding the frozen base weights:
//   lora_f32   FP weights in f32
//   lora_bf16  FP weights stored in bf16 (widened tile by tile)
//   qlora      NF4, block 64, double-quantized absmax (QLoRA)
//   qslaw      packed 4-bit uniform codes, group 64, the learned scales folded
//              in (QSLAW's tuned model; its alpha costs nothing at this point)
// LoRA (rank 16, alpha 32) on every linear of every block; embeddings and LM
// head stay f32 and frozen, as in the paper. Per size and method: peak tensor
// memory of the step (engine's host allocator: weights + activations +
// gradients + AdamW moments), the base weights' bytes, and the median step
// time; then the ratios to lora_f32 and lora_bf16.
//
//   ./qslaw bench tune-memory [--sizes N] [--seq T] [--batch B] [--steps N] [--threads N] [--vocab V]
//
// --sizes N runs the first N of the size ladder (default: all 4; the last is
// ~0.95B parameters and takes minutes per method on 2 cores).
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "bench/bench_util.h"
#include "engine/cpu/host_allocator.h"
#include "engine/ops.h"
#include "nn/lora.h"
#include "nn/models/llama.h"
#include "nn/optim/optimizer.h"
#include "quant/footprint.h"
#include "quant/quant_linear.h"
#include "quant/scale_learning.h"
#include "quant/surgery.h"

namespace {

namespace ag = qs::autograd;
namespace e = qs::engine;

struct Size {
  const char* name;
  int64_t dim, layers, heads, ffn;
};
// LLaMA's shapes scaled down: head dim 64 or 128, SwiGLU at ~2.75x width, vocabulary 32,000.
const Size kSizes[] = {{"60M", 512, 8, 8, 1408}, {"220M", 1024, 12, 16, 2816}, {"550M", 1536, 16, 12, 4096},
                       {"950M", 2048, 16, 16, 5632}};
const char* kMethods[] = {"lora_f32", "lora_bf16", "qlora", "qslaw"};

struct Result {
  double peak_mb = 0, weight_mb = 0, ms = 0;
  int64_t params = 0, trainable = 0;
};

double mb(double bytes) { return bytes / (1 << 20); }

Result run(const Size& s, const std::string& method, int64_t batch, int64_t seq, int steps, int64_t vocab) {
  qs::nn::LlamaConfig c;
  c.vocab_size = vocab;
  c.dim = s.dim;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.ffn_hidden = s.ffn;
  c.max_seq_len = seq;
  c.seed = 1;
  Result r;
  auto llm = std::make_shared<qs::nn::Llama>(c);
  r.params = llm->num_parameters();
  llm->set_requires_grad(false);
  const auto linears = qs::quant::path_pattern("layers.0-.*_proj");
  if (method == "lora_bf16") {
    qs::quant::bf16_linears(*llm, linears);
  } else if (method == "qlora") {
    qs::quant::nf4_linears(*llm, 64, true, linears);
  } else if (method == "qslaw") {
    qs::quant::quantize_linears(*llm, qs::quant::QuantSpec{.bits = 4, .group_size = 64}, linears);
    qs::quant::for_each_quant(*llm, [](const std::string&, qs::quant::QuantLinear& q) {
      q.to_real();  // packed codes; the f32 master is dropped
    });
  }
  qs::quant::add_lora(*llm, qs::nn::LoraConfig{.rank = 16, .alpha = 32.0, .dropout = 0.0, .seed = 3}, linears);
  std::vector<std::pair<std::string, ag::Var>> trainable;
  for (auto& [name, p] : llm->named_parameters()) {
    if (name.ends_with(".lora_a") || name.ends_with(".lora_b")) {
      p.set_requires_grad(true);
      trainable.emplace_back(name, p);
      r.trainable += p.numel();
    }
  }
  r.weight_mb = mb(static_cast<double>(qs::quant::weight_footprint(*llm).total_bytes));
  qs::nn::AdamW opt({qs::nn::ParamGroup{"lora", trainable, 1e-4, 0.0}});
  std::vector<int64_t> tokens(static_cast<std::size_t>(batch * seq + 1));
  uint64_t state = 7;
  for (int64_t& t : tokens) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    t = static_cast<int64_t>((state >> 33) % static_cast<uint64_t>(c.vocab_size));
  }
  const e::Tensor ids = e::from_vector(std::vector<int64_t>(tokens.begin(), tokens.end() - 1), {batch, seq});
  const e::Tensor targets = e::from_vector(std::vector<int64_t>(tokens.begin() + 1, tokens.end()));
  // Whatever building the model left behind is not the step's.
  e::cpu::host_reset_peak();
  std::vector<double> times;
  for (int i = 0; i < steps + 1; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    ag::Var logits = llm->forward(ids).logits;
    ag::Var loss = ag::cross_entropy(ag::reshape(logits, {-1, c.vocab_size}), targets);
    loss.backward();
    opt.step();
    opt.zero_grad();
    if (i > 0) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  r.ms = 1e3 * qs::bench::median(times);
  r.peak_mb = mb(static_cast<double>(e::cpu::host_cache_stats().peak_live_bytes));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int sizes = 4, seq = 256, batch = 1, steps = 2, threads = omp_get_max_threads(), vocab = 32000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench tune-memory: %s needs a value\n", a.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (a == "--sizes") sizes = qs::bench::int_arg(v, "--sizes", 1, 4);
    else if (a == "--seq") seq = qs::bench::int_arg(v, "--seq", 8, 4096);
    else if (a == "--batch") batch = qs::bench::int_arg(v, "--batch", 1, 64);
    else if (a == "--steps") steps = qs::bench::int_arg(v, "--steps", 1, 100);
    else if (a == "--threads") threads = qs::bench::int_arg(v, "--threads", 1, 1024);
    else if (a == "--vocab") vocab = qs::bench::int_arg(v, "--vocab", 16, 1000000);
    else {
      std::fprintf(stderr, "bench tune-memory: unknown argument '%s' (--sizes --seq --batch --steps --threads --vocab)\n", a.c_str());
      return 2;
    }
  }
  omp_set_num_threads(threads);
  std::printf("one LoRA tuning step (r16) of a random LLaMA-shaped LLM (vocabulary %d), batch %d x %d tokens, %d threads, "
              "median of %d steps\n\n", vocab, batch, seq, threads, steps);
  std::printf("| size | params (M) | method | base weights MB | peak MB | ms/step | peak vs f32 | peak vs bf16 | time vs f32 | time vs bf16 |\n");
  std::printf("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int k = 0; k < sizes; ++k) {
    std::vector<Result> rs;
    for (const char* m : kMethods) {
      rs.push_back(run(kSizes[k], m, batch, seq, steps, vocab));
      const Result& r = rs.back();
      std::printf("| %s | %.0f | %s | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.2fx | %.2fx |\n", kSizes[k].name,
                  static_cast<double>(r.params) / 1e6, m, r.weight_mb, r.peak_mb, r.ms, rs[0].peak_mb / r.peak_mb,
                  rs.size() > 1 ? rs[1].peak_mb / r.peak_mb : 1.0, rs[0].ms / r.ms, rs.size() > 1 ? rs[1].ms / r.ms : 1.0);
      std::fflush(stdout);
    }
  }
  std::printf("\n(ratios are lora_f32's or lora_bf16's peak or time over the row's: above 1 means the row needs less)\n");
  return 0;
}
