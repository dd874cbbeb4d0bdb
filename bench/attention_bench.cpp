// Attention benchmark: engine::attention_forward and attention_backward on the
// default model's shapes (BENCHMARK.md), batch 16, heads of d = 32:
//   llm  causal, 8 heads, 128 queries and keys (the train-step benchmark's LLM)
//   vit  bidirectional, 4 heads, 65 tokens (64 patches and the class token)
// with the heads split from a (B, T, H d) projection by a transpose, as the
// models pass them. FLOPs count the GEMM work the kernels do: Q K^T and P V
// forward (2 GEMMs), the backward's scores, dP, dQ, dK and dV (5 GEMMs), over
// the keys a causal query tile can see. Prints ms and GFLOP/s (medians), for
// comparison with `./qslaw bench gemm`'s ceiling.
//   bench_attention [--threads N] [--reps N]
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "bench/bench_util.h"

namespace e = qs::engine;

using qs::bench::median;

namespace {

struct Shape {
  const char* name;
  int64_t batch, heads, t, d;
  bool causal;
};

// Keys seen by 64-query tiles (the CPU kernel's tile): all of them unless causal.
double visible_pairs(const Shape& s) {
  if (!s.causal) return static_cast<double>(s.t) * static_cast<double>(s.t);
  double pairs = 0;
  for (int64_t i0 = 0; i0 < s.t; i0 += 64) {
    const int64_t i1 = std::min(s.t, i0 + 64);
    pairs += static_cast<double>(i1 - i0) * static_cast<double>(i1);
  }
  return pairs;
}

template <class F>
double time_ms(F&& f, int reps) {
  f();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return median(ms);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = qs::bench::int_arg(argv[++i], "--threads", 1, 1024);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = qs::bench::int_arg(argv[++i], "--reps", 1, 100000);
    } else {
      std::fprintf(stderr, "usage: bench_attention [--threads N] [--reps N]\n");
      return 2;
    }
  }
  omp_set_num_threads(threads);
  const Shape shapes[] = {{"llm", 16, 8, 128, 32, true}, {"vit", 16, 4, 65, 32, false}};
  std::printf("| shape | threads | forward ms | GFLOP/s | backward ms | GFLOP/s |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Shape& s : shapes) {
    e::Generator gen(7);
    // (B, T, H d) projections seen as (B, H, T, d).
    auto heads = [&](const e::Tensor& x) { return x.reshape({s.batch, s.t, s.heads, s.d}).transpose(1, 2); };
    const e::Tensor q = heads(e::randn({s.batch, s.t, s.heads * s.d}, gen));
    const e::Tensor k = heads(e::randn({s.batch, s.t, s.heads * s.d}, gen));
    const e::Tensor v = heads(e::randn({s.batch, s.t, s.heads * s.d}, gen));
    const e::Tensor dout = heads(e::randn({s.batch, s.t, s.heads * s.d}, gen));
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.d));
    const e::AttentionForward fwd = e::attention_forward(q, k, v, scale, s.causal);
    const double fwd_ms = time_ms([&] { e::attention_forward(q, k, v, scale, s.causal); }, reps);
    const double bwd_ms = time_ms([&] { e::attention_backward(dout, q, k, v, fwd, scale, s.causal); }, reps);
    const double gemm = 2.0 * static_cast<double>(s.batch * s.heads * s.d) * visible_pairs(s);  // one GEMM's FLOPs
    std::printf("| %s | %d | %.2f | %.1f | %.2f | %.1f |\n", s.name, threads, fwd_ms, 2 * gemm / fwd_ms / 1e6, bwd_ms,
                5 * gemm / bwd_ms / 1e6);
  }
  return 0;
}
