// The all-ops harness in perf mode: every case of tests/harness/op_cases.h
// with its rows scaled up (`scale` times the test size; attention's query and
// key lengths both grow), timed on the CPU and on a GPU where one is visible,
// forward only, medians of repeated runs after a warm-up. A quick look at
// where an op is slow, not a kernel benchmark (bench_gemm and
// bench_attention are those).
//   ./qslaw bench ops [scale] [reps]     (defaults 256 and 9)
#define DOCTEST_CONFIG_IMPLEMENT  // the cases' property checks are never called here
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>

#include "bench/bench_util.h"
#include "engine/backend.h"
#include "harness/op_cases.h"

namespace e = qs::engine;
using qs::test::OpCase;
using qs::test::Tensors;

namespace {

double time_case(const OpCase& c, const Tensors& in, e::Device dev, int reps) {
  std::vector<double> t;
  for (int r = 0; r <= reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensors out = c.run(in, dev);
    if (dev.is_cuda()) out[0].to(e::Device::cpu());  // waits for the GPU
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) t.push_back(s);  // the first run warms caches and allocators
  }
  return qs::bench::median(t);
}

}  // namespace

int main(int argc, char** argv) {
  const int scale = argc > 1 ? qs::bench::int_arg(argv[1], "scale", 1, 4096) : 256;
  const int reps = argc > 2 ? qs::bench::int_arg(argv[2], "reps", 1, 1000) : 9;
  const bool gpu = e::cuda_device_count() > 0;
  fmt::print("all-ops harness, forward, sizes x{}, median of {} runs{}\n\n", scale, reps,
             gpu ? "" : " (no GPU visible: CPU only)");
  fmt::print("| op | case | dtype | inputs (MB) | CPU ms |{}\n", gpu ? " GPU ms |" : "");
  fmt::print("| --- | --- | --- | ---: | ---: |{}\n", gpu ? " ---: |" : "");
  for (const OpCase& c : qs::test::op_cases()) {
    for (e::DType dt : c.dtypes) {
      e::Generator gen(42);
      const Tensors in = c.inputs(gen, dt, scale);
      double bytes = 0;
      for (const auto& x : in) bytes += static_cast<double>(x.nbytes());
      const double cpu = time_case(c, in, e::Device::cpu(), reps);
      std::string row = fmt::format("| {} | {} | {} | {:.2f} | {:.3f} |", e::op_name(c.op), c.label,
                                    e::dtype_name(dt), bytes / 1e6, 1e3 * cpu);
      if (gpu) {
        const Tensors din = qs::test::on_device(in, e::Device::cuda());
        row += fmt::format(" {:.3f} |", 1e3 * time_case(c, din, e::Device::cuda(), reps));
      }
      fmt::print("{}\n", row);
    }
  }
  return 0;
}
