// GEMM benchmark: qs::engine::matmul against OpenBLAS sgemm on the shapes of
// the default LLM (M = 2048 rows; K, N in {256, 768, 2048}) for the three
// operand layouts a linear layer uses:
//   NN  dX = dY W          (both row-major)
//   NT  Y  = X W^T         (weight stored (N, K), read transposed: forward)
//   TN  dW = dY^T X        (left operand stored transposed: weight gradient)
//
// Each measurement runs in a child process of its own: OpenBLAS's pthreads
// and our OpenMP threads both spin after a call, and in one process on two
// cores they steal each other's core. The children alternate (ours, OpenBLAS,
// ours, OpenBLAS) so both see the same noise of this shared machine; a cell
// is the median over all timed runs of each.
#include <cblas.h>
#include <unistd.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "bench/bench_util.h"

namespace e = qs::engine;

using qs::bench::median;

namespace {

constexpr int64_t kM = 2048;

// Child: times one library on one cell and prints the seconds of each run.
int run_cell(const std::string& lib, const std::string& layout, int threads, int64_t k, int64_t n,
             int reps) {
  const bool ta = layout[0] == 'T', tb = layout[1] == 'T';
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  e::Generator gen(1);
  // Stored shapes: A is (M, K) or (K, M); B is (K, N) or (N, K).
  e::Tensor a_store = e::randn(ta ? e::Shape{k, kM} : e::Shape{kM, k}, gen);
  e::Tensor b_store = e::randn(tb ? e::Shape{n, k} : e::Shape{k, n}, gen);
  e::Tensor a = ta ? a_store.t() : a_store;
  e::Tensor b = tb ? b_store.t() : b_store;
  e::Tensor c({kM, n}, e::DType::f32);
  auto ours = [&] { e::Tensor out = e::matmul(a, b); };
  auto blas = [&] {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, kM,
                n, k, 1.0f, a_store.data<float>(), ta ? kM : k, b_store.data<float>(),
                tb ? k : n, 0.0f, c.data<float>(), n);
  };
  auto timed = [&](auto&& f) {
    f();  // warm-up: page faults, thread pools
    for (int r = 0; r < reps; ++r) {
      auto start = std::chrono::steady_clock::now();
      f();
      std::printf("%.9f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  };
  if (lib == "ours") {
    timed(ours);
  } else {
    timed(blas);
  }
  return 0;
}

std::vector<double> spawn(const std::string& self, const std::string& lib, const char* layout,
                          int threads, int64_t k, int64_t n, int reps) {
  std::ostringstream cmd;
  cmd << '"' << self << "\" cell " << lib << ' ' << layout << ' ' << threads << ' ' << k << ' '
      << n << ' ' << reps;
  FILE* p = popen(cmd.str().c_str(), "r");
  if (!p) {
    std::perror("popen");
    std::exit(1);
  }
  std::vector<double> t;
  double s;
  while (std::fscanf(p, "%lf", &s) == 1) t.push_back(s);
  if (pclose(p) != 0 || t.empty()) {
    std::fprintf(stderr, "benchmark child failed: %s\n", cmd.str().c_str());
    std::exit(1);
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 8 && std::string(argv[1]) == "cell") {
    return run_cell(argv[2], argv[3], std::atoi(argv[4]), std::atoll(argv[5]),
                    std::atoll(argv[6]), std::atoi(argv[7]));
  }
  // Usage: bench_gemm [reps] [threads] [layout]: the last two narrow the table.
  const int reps = argc > 1 ? qs::bench::int_arg(argv[1], "reps", 1, 100000) : 8;
  const int only_threads = argc > 2 ? qs::bench::int_arg(argv[2], "threads", 0, 1024) : 0;
  const std::string only_layout = argc > 3 ? argv[3] : "";
  const std::string self = "/proc/self/exe";
  char exe[4096];
  ssize_t len = readlink(self.c_str(), exe, sizeof(exe) - 1);
  const std::string me = len > 0 ? std::string(exe, len) : argv[0];

  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("GEMM benchmark: qs::engine::matmul vs OpenBLAS %s (core: %s%s)\n", OPENBLAS_VERSION,
              openblas_get_corename(),
              coretype ? (std::string(", OPENBLAS_CORETYPE=") + coretype).c_str() : "");
  std::printf("f32, M = %lld, medians of >= %d runs per library, GFLOP/s\n\n",
              static_cast<long long>(kM), 2 * reps);
  std::printf("%-6s %7s %6s %6s %10s %10s %7s\n", "layout", "threads", "K", "N", "qslaw",
              "openblas", "ratio");
  const std::vector<int64_t> sizes{256, 768, 2048};
  double worst = 1e9;
  for (int threads : {1, 2}) {
    if (only_threads && threads != only_threads) continue;
    for (const char* layout : {"NN", "NT", "TN"}) {
      if (!only_layout.empty() && only_layout != layout) continue;
      for (int64_t k : sizes) {
        for (int64_t n : sizes) {
          const double flops = 2.0 * kM * n * k;
          // Small products get more runs so that every cell takes a similar time.
          const int cell_reps = std::max(reps, static_cast<int>(reps * 8.6e9 / flops));
          std::vector<double> ours, blas;
          for (int round = 0; round < 2; ++round) {
            auto o = spawn(me, "ours", layout, threads, k, n, cell_reps);
            auto b = spawn(me, "openblas", layout, threads, k, n, cell_reps);
            ours.insert(ours.end(), o.begin(), o.end());
            blas.insert(blas.end(), b.begin(), b.end());
          }
          const double g_ours = flops / median(ours) * 1e-9, g_blas = flops / median(blas) * 1e-9;
          std::printf("%-6s %7d %6lld %6lld %10.1f %10.1f %7.2f\n", layout, threads,
                      static_cast<long long>(k), static_cast<long long>(n), g_ours, g_blas,
                      g_ours / g_blas);
          std::fflush(stdout);
          if (threads == 2) worst = std::min(worst, g_ours / g_blas);
        }
      }
    }
  }
  if (worst < 1e9) std::printf("\nworst ratio with 2 threads: %.2f (target >= 0.80)\n", worst);
  return 0;
}
