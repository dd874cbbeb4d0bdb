#include <cmath>

#include "autograd/functions.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/schedule.h"
#include "support.h"

using namespace qs::nn;
namespace ag = qs::autograd;
namespace e = qs::engine;
using qs::test::make;
using qs::engine::DType;
using qs::test::values;

TEST_CASE("AdamW matches the update written out by hand") {
  Var w(make({1.0, -2.0}, {2}, DType::f64), true);
  AdamW opt({ParamGroup{"all", {{"w", w}}, 0.1, 0.01}}, 0.9, 0.999, 1e-8);
  std::vector<double> p{1.0, -2.0}, m{0, 0}, v{0, 0};
  for (int t = 1; t <= 3; ++t) {
    std::vector<double> g{0.5 * t, -1.0};
    w.set_grad(make(g, {2}, DType::f64));
    opt.step();
    for (int i = 0; i < 2; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
      p[i] = p[i] * (1 - 0.1 * 0.01) - 0.1 * mh / (std::sqrt(vh) + 1e-8);
    }
    QS_CHECK_CLOSE(w.data(), make(p, {2}, DType::f64), 1e-12);
  }
  CHECK(opt.steps() == 3);
}

TEST_CASE("SGD with momentum, and parameter groups with their own learning rates") {
  Var a(make({1.0}, {1}, DType::f64), true), b(make({1.0}, {1}, DType::f64), true);
  SGD opt({ParamGroup{"slow", {{"a", a}}, 0.1, 0.0}, ParamGroup{"fast", {{"b", b}}, 1.0, 0.0}}, 0.5);
  for (int t = 0; t < 2; ++t) {
    a.set_grad(make({1.0}, {1}, DType::f64));
    b.set_grad(make({1.0}, {1}, DType::f64));
    opt.step();
  }
  // buffers: 1, then 1.5 -> steps 1 + 1.5 = 2.5 times lr
  CHECK(values(a.data())[0] == doctest::Approx(1.0 - 0.25));
  CHECK(values(b.data())[0] == doctest::Approx(1.0 - 2.5));
  opt.set_lr_scale(0.0);
  a.set_grad(make({1.0}, {1}, DType::f64));
  opt.step();
  CHECK(values(a.data())[0] == doctest::Approx(0.75));
}

TEST_CASE("parameters without a gradient or frozen are left alone") {
  Var a(make({1.0}, {1}), true), frozen(make({1.0}, {1}), false);
  AdamW opt({ParamGroup{"all", {{"a", a}, {"frozen", frozen}}, 0.1, 0.1}});
  opt.step();
  CHECK(values(a.data())[0] == 1.0);
  CHECK(values(frozen.data())[0] == 1.0);
}

TEST_CASE("clip_grad_norm scales to the global norm") {
  Var a(make({0, 0}, {2}), true), b(make({0}, {1}), true);
  a.set_grad(make({3, 0}, {2}));
  b.set_grad(make({4}, {1}));
  CHECK(clip_grad_norm({a, b}, 1.0) == doctest::Approx(5.0));
  CHECK(values(a.grad())[0] == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(values(b.grad())[0] == doctest::Approx(0.8).epsilon(1e-5));
  CHECK(clip_grad_norm({a, b}, 10.0) == doctest::Approx(1.0).epsilon(1e-5));
}

TEST_CASE("learning-rate schedules") {
  LrSchedule cos{LrSchedule::Kind::warmup_cosine, 100, 0.1, 0.0};
  CHECK(cos.factor(0) == doctest::Approx(0.1));
  CHECK(cos.factor(9) == doctest::Approx(1.0));
  CHECK(cos.factor(55) == doctest::Approx(0.5));
  CHECK(cos.factor(100) == doctest::Approx(0.0));
  LrSchedule step{LrSchedule::Kind::step, 100, 0, 0, 10, 0.5};
  CHECK(step.factor(9) == 1.0);
  CHECK(step.factor(25) == 0.25);
  CHECK(LrSchedule{}.factor(42) == 1.0);
  CHECK_THROWS_AS(LrSchedule::parse_kind("linear-ish"), qs::Error);
}

TEST_CASE("gradient accumulation over micro-batches equals one large batch") {
  e::Generator gen(3);
  Tensor x = e::randn({8, 4}, gen, DType::f64), wt = e::randn({4, 1}, gen, DType::f64);
  auto loss_of = [&](const Var& w, const Tensor& xs) { return ag::mean(ag::pow(ag::matmul(Var(xs), w), 2.0)); };
  Var big(wt.clone(), true), small(wt.clone(), true);
  loss_of(big, x).backward();
  for (int i = 0; i < 4; ++i) (loss_of(small, x.slice(0, 2 * i, 2 * i + 2)) * 0.25).backward();
  QS_CHECK_CLOSE(small.grad(), big.grad(), 1e-12);
}

TEST_CASE("optimizer state round-trips and rejects foreign entries") {
  Var a(make({1, 2}, {2}), true);
  AdamW opt({ParamGroup{"all", {{"w", a}}, 0.1, 0.0}});
  a.set_grad(make({1, 1}, {2}));
  opt.step();
  auto state = opt.state_dict();
  CHECK(state.count("exp_avg.w") == 1);
  Var b(a.data().clone(), true);
  AdamW other({ParamGroup{"all", {{"w", b}}, 0.1, 0.0}});
  other.load_state_dict(state);
  CHECK(other.steps() == 1);
  a.set_grad(make({0.5, -1}, {2}));
  b.set_grad(make({0.5, -1}, {2}));
  opt.step();
  other.step();
  CHECK(e::equal(a.data(), b.data()));
  state["exp_avg.nope"] = e::zeros({2});
  CHECK_THROWS_WITH_AS(other.load_state_dict(state), doctest::Contains("exp_avg.nope"), qs::Error);
}
