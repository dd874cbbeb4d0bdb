// engine/dist on CUDA tensors (NCCL between ranks), against the CPU: run as
// one process and under mpirun with one GPU per rank. Skipped (exit 77) where
// no GPU is visible; NCCL cannot give two ranks one GPU, so a job with more
// ranks than GPUs says so and checks nothing.
#include <cmath>
#include <optional>

#include "autograd/functions.h"
#include "engine/backend.h"
#include "engine/dist/process_group.h"
#include "engine/ops.h"
#include "nn/data_parallel.h"
#include "support.h"

namespace e = qs::engine;
namespace ag = qs::autograd;
namespace dist = qs::engine::dist;
using qs::test::make;
using qs::test::values;

namespace {
// This rank's GPU, or nullopt (with a message) when the job has more ranks than GPUs.
std::optional<e::Device> my_gpu() {
  dist::ProcessGroup& w = dist::world();
  if (w.size() > e::cuda_device_count()) {
    MESSAGE("not checked: " << w.size() << " ranks but " << e::cuda_device_count()
                            << " GPU(s); NCCL needs one GPU per rank");
    return std::nullopt;
  }
  return e::Device::cuda(w.rank());
}
}  // namespace

TEST_CASE("NCCL collectives on CUDA tensors give what MPI gives on the CPU") {
  const auto gpu = my_gpu();
  if (!gpu) return;
  dist::ProcessGroup& w = dist::world();
  const double n = w.size();
  e::Tensor t = make({1.0 + w.rank(), -2.0, 0.5 * w.rank()}, {3}).to(*gpu);
  w.all_reduce(t, dist::ReduceOp::sum);
  CHECK(values(t.to(e::Device::cpu())) == std::vector<double>{n + n * (n - 1) / 2, -2.0 * n, 0.5 * n * (n - 1) / 2});
  e::Tensor a = make({2.0 * w.rank()}, {1}).to(*gpu);
  w.all_reduce(a, dist::ReduceOp::avg);
  CHECK(values(a.to(e::Device::cpu()))[0] == doctest::Approx(n - 1));
  e::Tensor b = make({1.0 * w.rank(), 7.0}, {2}).to(*gpu);
  w.broadcast(b, 0);
  CHECK(values(b.to(e::Device::cpu())) == std::vector<double>{0.0, 7.0});
  e::Tensor g = w.all_gather(make({1.0 * w.rank()}, {1, 1}).to(*gpu));
  std::vector<double> ranks;
  for (int r = 0; r < w.size(); ++r) ranks.push_back(r);
  CHECK(values(g.to(e::Device::cpu())) == ranks);
}

TEST_CASE("GradientSync on GPU parameters: the whole batch's gradient, as on the CPU") {
  const auto gpu = my_gpu();
  if (!gpu) return;
  dist::ProcessGroup& w = dist::world();
  const int64_t rows = 6;
  std::vector<double> xv, yv;
  for (int64_t i = 0; i < rows * 3; ++i) xv.push_back(std::sin(0.7 * static_cast<double>(i)));
  for (int64_t i = 0; i < rows; ++i) yv.push_back(std::cos(1.3 * static_cast<double>(i)));
  const e::Tensor x = make(xv, {rows, 3}), y = make(yv, {rows, 1});
  const e::Tensor w1 = make({0.3, -0.2, 0.5, 0.1, 0.7, -0.4}, {3, 2});
  auto loss_of = [](const ag::Var& p, const e::Tensor& xs, const e::Tensor& ys) {
    ag::Var d = ag::matmul(ag::tanh(ag::matmul(ag::Var(xs), p)), ag::Var(e::ones({2, 1}, e::DType::f32, xs.device()))) -
                ag::Var(ys);
    return ag::mean(d * d);
  };
  ag::Var reference(w1, true);
  loss_of(reference, x, y).backward();

  ag::Var p(w1.to(*gpu), true);
  qs::nn::GradientSync sync({p}, w);
  const dist::Share share = dist::share_of(rows, w.rank(), w.size());
  ag::Var loss = loss_of(p, x.slice(0, share.begin, share.end).contiguous().to(*gpu),
                         y.slice(0, share.begin, share.end).contiguous().to(*gpu));
  sync.backward(loss * (static_cast<double>(share.size()) / rows * w.size()));
  sync.finish();
  const std::vector<double> got = values(p.grad().to(e::Device::cpu())), want = values(reference.grad());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
}
