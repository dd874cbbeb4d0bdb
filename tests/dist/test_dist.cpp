// engine/dist and nn/data_parallel at any world size: ctest runs this suite
// as one process and under `mpirun -np 2`. Every rank runs every case and
// issues the same collectives in the same order; expected values are
// written for any size.
#include <cmath>

#include "autograd/functions.h"
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
dist::ProcessGroup& world() { return dist::world(); }
}  // namespace

TEST_CASE("share_of splits rows evenly, the first ranks taking the remainder") {
  CHECK(dist::share_of(10, 0, 3).begin == 0);
  CHECK(dist::share_of(10, 0, 3).end == 4);
  CHECK(dist::share_of(10, 1, 3).begin == 4);
  CHECK(dist::share_of(10, 2, 3).end == 10);
  CHECK(dist::share_of(1, 1, 2).size() == 0);
  int64_t total = 0;
  for (int r = 0; r < 7; ++r) total += dist::share_of(23, r, 7).size();
  CHECK(total == 23);
  CHECK_THROWS_AS(dist::share_of(5, 2, 2), qs::Error);
}

TEST_CASE("the world group: rank and size agree with the launcher") {
  dist::ProcessGroup& w = world();
  CHECK(w.size() >= 1);
  CHECK(w.rank() >= 0);
  CHECK(w.rank() < w.size());
  CHECK((w.size() == 1) == (w.backend() == "local"));
  if (!dist::launched_by_mpi()) CHECK(w.size() == 1);
  w.barrier();
}

TEST_CASE("broadcast gives every rank root's values") {
  dist::ProcessGroup& w = world();
  const int root = w.size() - 1;
  e::Tensor t = make({1.0 * w.rank(), 2.0 * w.rank(), 3.0}, {3});
  w.broadcast(t, root);
  CHECK(values(t) == std::vector<double>{1.0 * root, 2.0 * root, 3.0});
  e::Tensor bytes = make({static_cast<double>(w.rank() + 7)}, {1}, e::DType::u8);
  w.broadcast(bytes, 0);
  CHECK(values(bytes) == std::vector<double>{7});
  CHECK_THROWS_AS(w.broadcast(t, w.size()), qs::Error);
}

TEST_CASE("all_reduce sums and averages in every dtype MPI reduces") {
  dist::ProcessGroup& w = world();
  const double n = w.size();
  const double ranks_sum = n * (n - 1) / 2;  // 0 + 1 + ... + (n - 1)
  for (e::DType dt : {e::DType::f32, e::DType::f64, e::DType::i32, e::DType::i64}) {
    CAPTURE(e::dtype_name(dt));
    e::Tensor t = make({1.0 + w.rank(), -2.0, 10.0 * w.rank()}, {3}, dt);
    w.all_reduce(t, dist::ReduceOp::sum);
    CHECK(values(t) == std::vector<double>{n + ranks_sum, -2.0 * n, 10.0 * ranks_sum});
  }
  e::Tensor avg = make({2.0 * w.rank(), 1.0}, {2}, e::DType::f64);
  w.all_reduce(avg, dist::ReduceOp::avg);
  CHECK(values(avg)[0] == doctest::Approx(2.0 * ranks_sum / n));
  CHECK(values(avg)[1] == doctest::Approx(1.0));
  // Several in flight complete in issue order, each with its own result.
  std::vector<e::Tensor> ts;
  std::vector<dist::Work> works;
  for (int k = 0; k < 5; ++k) {
    ts.push_back(make({static_cast<double>(k)}, {1}));
    works.push_back(w.all_reduce_async(ts.back()));
  }
  for (int k = 0; k < 5; ++k) {
    works[static_cast<std::size_t>(k)].wait();
    CHECK(values(ts[static_cast<std::size_t>(k)]) == std::vector<double>{k * n});
  }
  // Refused before anything goes on the wire (so every rank refuses alike).
  e::Tensor strided = e::zeros({4, 4}).t();
  CHECK_THROWS_WITH_AS(w.all_reduce(strided), doctest::Contains("contiguous"), qs::Error);
}

TEST_CASE("all_gather concatenates in rank order, reduce_scatter hands each rank its part") {
  dist::ProcessGroup& w = world();
  const int n = w.size();
  e::Tensor mine = make({1.0 * w.rank(), 10.0 * w.rank()}, {1, 2});
  e::Tensor all = w.all_gather(mine);
  CHECK(all.shape() == e::Shape{n, 2});
  std::vector<double> expect;
  for (int r = 0; r < n; ++r) {
    expect.push_back(r);
    expect.push_back(10.0 * r);
  }
  CHECK(values(all) == expect);
  // Rank r contributes (r + 1) * [0, 1, ..., 2n - 1] as (2n, 1); each gets two rows.
  std::vector<double> rows;
  for (int i = 0; i < 2 * n; ++i) rows.push_back((w.rank() + 1.0) * i);
  e::Tensor part = w.reduce_scatter(make(rows, {2 * n, 1}), dist::ReduceOp::sum);
  const double scale = n * (n + 1) / 2.0;
  CHECK(part.shape() == e::Shape{2, 1});
  CHECK(values(part) == std::vector<double>{scale * 2 * w.rank(), scale * (2 * w.rank() + 1)});
  if (n > 1) {
    CHECK_THROWS_WITH_AS(w.reduce_scatter(make({1, 2, 3}, {3}), dist::ReduceOp::sum), doctest::Contains("divide"),
                         qs::Error);
  }
}

namespace {

// A two-layer model on rows of a global batch, its loss the mean over rows.
struct Tiny {
  ag::Var w1{e::from_vector(std::vector<float>{0.3f, -0.2f, 0.5f, 0.1f, 0.7f, -0.4f}, {3, 2}), true};
  ag::Var w2{e::from_vector(std::vector<float>{0.6f, -0.8f}, {2, 1}), true};
  ag::Var never{e::from_vector(std::vector<float>{1.0f}, {1}), true};  // in no graph: its gradient stays undefined
  ag::Var loss(const e::Tensor& x, const e::Tensor& y) const {
    ag::Var out = ag::matmul(ag::tanh(ag::matmul(ag::Var(x), w1)), w2);
    ag::Var d = out - ag::Var(y);
    return ag::mean(d * d);
  }
};

e::Tensor batch_x(int64_t rows) {
  std::vector<double> v;
  for (int64_t i = 0; i < rows * 3; ++i) v.push_back(std::sin(0.7 * static_cast<double>(i)));
  return make(v, {rows, 3});
}
e::Tensor batch_y(int64_t rows) {
  std::vector<double> v;
  for (int64_t i = 0; i < rows; ++i) v.push_back(std::cos(1.3 * static_cast<double>(i)));
  return make(v, {rows, 1});
}

}  // namespace

TEST_CASE("GradientSync: every rank ends with the whole batch's gradient") {
  dist::ProcessGroup& w = world();
  // 7 rows (uneven shares) and 1 row (some ranks hold nothing).
  for (int64_t rows : {7, 1}) {
    CAPTURE(rows);
    Tiny reference;
    reference.loss(batch_x(rows), batch_y(rows)).backward();

    Tiny model;
    // Buckets of 16 bytes: several buckets, some all-reduced during backward.
    qs::nn::GradientSync sync({model.w1, model.w2, model.never}, w, 16);
    const dist::Share share = dist::share_of(rows, w.rank(), w.size());
    if (share.size() > 0) {
      const double weight = static_cast<double>(share.size()) / static_cast<double>(rows) * w.size();
      ag::Var loss = model.loss(batch_x(rows).slice(0, share.begin, share.end).contiguous(),
                                batch_y(rows).slice(0, share.begin, share.end).contiguous());
      sync.backward(loss * weight);
    }
    sync.finish();
    const std::vector<double> g1 = values(model.w1.grad()), r1 = values(reference.w1.grad());
    const std::vector<double> g2 = values(model.w2.grad()), r2 = values(reference.w2.grad());
    for (std::size_t i = 0; i < r1.size(); ++i) CHECK(g1[i] == doctest::Approx(r1[i]).epsilon(1e-6));
    for (std::size_t i = 0; i < r2.size(); ++i) CHECK(g2[i] == doctest::Approx(r2[i]).epsilon(1e-6));
    CHECK(!model.never.grad().defined());
    if (w.size() > 1) {
      CHECK(sync.stats().steps == 1);
      CHECK(sync.stats().buckets >= 2);
      CHECK(sync.stats().bytes_per_step == doctest::Approx((6 + 2 + 1 + 3) * 4.0));  // gradients and flags
    }
  }
}

TEST_CASE("GradientSync and broadcast_state make every rank start from rank 0's values") {
  dist::ProcessGroup& w = world();
  ag::Var p(make({1.0 + w.rank(), 2.0}, {2}), true);
  qs::nn::GradientSync sync({p}, w);
  sync.broadcast_parameters();
  CHECK(values(p.data()) == std::vector<double>{1.0, 2.0});
  std::map<std::string, e::Tensor> state{{"a", make({3.0 * w.rank()}, {1})}, {"b", make({5.0, 1.0 * w.rank()}, {2}).slice(0, 0, 2, 1)}};
  qs::nn::broadcast_state(state, w);
  CHECK(values(state["a"]) == std::vector<double>{0});
  CHECK(values(state["b"]) == std::vector<double>{5.0, 0.0});
}

TEST_CASE("all_gather_rows: the global loss's gradient, each rank holding its rows") {
  dist::ProcessGroup& w = world();
  const int64_t n = 2, d = 3;
  // The global rows (n per rank) and a loss every rank computes from all of them.
  std::vector<double> all;
  for (int64_t i = 0; i < w.size() * n * d; ++i) all.push_back(std::cos(0.37 * static_cast<double>(i)));
  std::vector<double> coeff;
  for (int64_t i = 0; i < w.size() * n * d; ++i) coeff.push_back(0.5 + 0.1 * static_cast<double>(i % 7));
  const e::Tensor c = make(coeff, {w.size() * n, d});
  auto loss_of = [&](const ag::Var& rows) { return ag::sum(ag::tanh(rows) * ag::Var(c)); };

  ag::Var reference(make(all, {w.size() * n, d}), true);
  loss_of(reference).backward();

  ag::Var mine(make(all, {w.size() * n, d}).slice(0, w.rank() * n, (w.rank() + 1) * n).contiguous(), true);
  ag::Var gathered = qs::nn::all_gather_rows(mine, w);
  CHECK(values(gathered.data()) == values(reference.data()));
  loss_of(gathered).backward();
  // The world size times this rank's rows of the reference gradient (averaged over ranks later).
  const std::vector<double> got = values(mine.grad());
  const std::vector<double> want = values(reference.grad().slice(0, w.rank() * n, (w.rank() + 1) * n).contiguous());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i] * w.size()).epsilon(1e-6));
  if (w.size() > 1) {
    // Ranks holding different row counts are refused on every rank alike.
    ag::Var uneven(e::zeros({1 + w.rank(), d}), true);
    CHECK_THROWS_WITH_AS(qs::nn::all_gather_rows(uneven, w), doctest::Contains("same shape"), qs::Error);
  }
}
