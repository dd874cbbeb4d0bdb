// Quantized matmul benchmark on a 4096 x 4096 weight, production kernels only:
//  - batch 1 (decoding, memory bound): packed 4-bit QuantLinear vs the f32 product;
//  - 2048 rows (compute bound): packed 4-bit (tiled dequantization + GEMM) vs f32.
// Medians of alternating runs in one process (both use our OpenMP threads).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "autograd/var.h"
#include "bench/bench_util.h"
#include "engine/ops.h"
#include "nn/linear.h"
#include "quant/quant_linear.h"

namespace e = qs::engine;
namespace ag = qs::autograd;

using qs::bench::median;

namespace {
template <class F>
double seconds(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? qs::bench::int_arg(argv[1], "reps", 1, 100000) : 15;
  const int64_t n = 4096;
  e::Generator gen(1);
  qs::nn::Linear lin(n, n, false, gen, 0.02);
  qs::quant::QuantLinear q4(lin, qs::quant::QuantSpec{.bits = 4, .group_size = 64});
  q4.to_real();
  ag::NoGrad no_grad;
  std::printf("quantized matmul, weight %lld x %lld, 4-bit g64 packed (%.2f bits/param), %d threads\n\n",
              static_cast<long long>(n), static_cast<long long>(n), q4.bits_per_parameter(), omp_get_max_threads());
  for (int64_t rows : {int64_t{1}, int64_t{2048}}) {
    ag::Var x(e::randn({rows, n}, gen));
    auto f32 = [&] { lin.forward(x); };
    auto packed = [&] { q4.forward(x); };
    f32();
    packed();
    std::vector<double> tf, tq;
    const int r = rows == 1 ? reps * 10 : reps;
    for (int i = 0; i < r; ++i) {
      tf.push_back(seconds(f32));
      tq.push_back(seconds(packed));
    }
    const double mf = median(tf), mq = median(tq), flops = 2.0 * rows * n * n;
    if (rows == 1) {
      std::printf("batch 1:    f32 %.3f ms   4-bit %.3f ms   speed-up %.2fx (target >= 3x)\n", mf * 1e3, mq * 1e3, mf / mq);
    } else {
      std::printf("2048 rows:  f32 %.1f GFLOP/s   4-bit %.1f GFLOP/s   ratio %.2f (target >= 0.60)\n", flops / mf * 1e-9,
                  flops / mq * 1e-9, mf / mq);
    }
  }
  return 0;
}
