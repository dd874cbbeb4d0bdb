#include "autograd/functions.h"
#include "engine/profiler.h"
#include "support.h"

using namespace qs::autograd;
namespace e = qs::engine;
using qs::test::make;
using qs::test::values;

TEST_CASE("backward accumulates into leaves through a small graph") {
  Var x(make({1, 2, 3}, {3}), true);
  Var w(make({2}, {1}), true);
  Var y = sum(x * w + x);  // d/dx = w + 1, d/dw = sum(x)
  y.backward();
  CHECK(values(x.grad()) == std::vector<double>{3, 3, 3});
  CHECK(values(w.grad()) == std::vector<double>{6});
  CHECK(w.grad().shape() == Shape{1});  // broadcast reduced to the leaf's shape
  // A second graph accumulates on top.
  sum(x).backward();
  CHECK(values(x.grad()) == std::vector<double>{4, 4, 4});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("leaves and non-leaves - retain_grad") {
  Var a(make({2}, {1}), true);
  Var b = a * a;
  CHECK(a.is_leaf());
  CHECK(!b.is_leaf());
  CHECK(b.requires_grad());
  b.retain_grad();
  Var c = b * 3.0;
  c.backward();
  CHECK(values(b.grad()) == std::vector<double>{3});
  CHECK(values(a.grad()) == std::vector<double>{12});
}

TEST_CASE("a Var used twice gets both gradients") {
  Var x(make({3}, {1}), true);
  Var y = x * x * x;  // 3 x^2 = 27
  y.backward();
  CHECK(values(x.grad()) == std::vector<double>{27});
}

TEST_CASE("NoGrad records no graph - frozen inputs get no gradient") {
  Var x(make({1, 2}, {2}), true);
  {
    NoGrad guard;
    Var y = x * 2.0;
    CHECK(!y.requires_grad());
    CHECK(y.is_leaf());
  }
  CHECK(grad_enabled());
  Var frozen(make({5, 5}, {2}), false);
  Var z = sum(x * frozen);
  z.backward();
  CHECK(!frozen.grad().defined());
  CHECK(values(x.grad()) == std::vector<double>{5, 5});
}

TEST_CASE("the graph is freed after backward unless retained") {
  Var x(make({1}, {1}), true);
  Var y = exp(x);
  y.backward(Tensor(), true);
  y.backward();  // retained once: works
  CHECK(values(x.grad())[0] == doctest::Approx(2 * std::exp(1.0)));
  try {
    y.backward();
    FAIL("expected an error");
  } catch (const qs::Error& err) {
    CHECK(std::string(err.what()).find("exp") != std::string::npos);
    CHECK(std::string(err.what()).find("retain_graph") != std::string::npos);
  }
}

TEST_CASE("backward of a non-scalar needs a gradient - detach cuts the graph") {
  Var x(make({1, 2}, {2}), true);
  Var y = x * 2.0;
  CHECK_THROWS_AS(y.backward(), qs::Error);
  y.backward(make({1, 10}, {2}));
  CHECK(values(x.grad()) == std::vector<double>{2, 20});
  Var d = y.detach();
  CHECK(!d.requires_grad());
  CHECK(d.data().storage() == y.data().storage());
}

TEST_CASE("leaf gradients never alias each other") {
  Var a(make({1}, {1}), true), b(make({1}, {1}), true);
  (a + b).backward();
  CHECK(a.grad().storage() != b.grad().storage());
}

TEST_CASE("a fresh gradient is adopted without a copy, a shared one is copied") {
  // x W^T: W's gradient is computed in W's own layout and kept as it is.
  Var x(make({1, 2, 3, 4, 5, 6}, {2, 3}), true), w(make({1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}, {4, 3}), true);
  Var y = qs::autograd::matmul(x, qs::autograd::transpose(w, 0, 1));
  y.retain_grad();
  Var b(make({0, 0, 0, 0}, {4}), true);
  Var z = y + b;
  qs::engine::profiler::reset();
  qs::engine::profiler::enable(true);
  z.backward(qs::engine::ones({2, 4}));
  qs::engine::profiler::enable(false);
  int64_t copies = 0;  // y's retained gradient shares the incoming one: the only copy
  for (const auto& e : qs::engine::profiler::entries()) copies += e.name == "copy_" ? e.calls : 0;
  CHECK(copies == 1);
  qs::engine::profiler::reset();
  CHECK(w.grad().is_contiguous());
  CHECK(values(w.grad()) == std::vector<double>{5, 7, 9, 5, 7, 9, 5, 7, 9, 5, 7, 9});
  // y's retained gradient and the leaves' are the same numbers, never the same memory.
  CHECK(y.grad().storage() != x.grad().storage());
  CHECK(y.grad().storage() != w.grad().storage());
  CHECK(y.grad().storage() != b.grad().storage());
  // A leaf's gradient never aliases the seed the caller still holds.
  Var leaf(make({1, 2}, {2}), true);
  qs::engine::Tensor seed = make({3, 4}, {2});
  leaf.backward(seed);
  CHECK(leaf.grad().storage() != seed.storage());
}

TEST_CASE("gradients accumulate in place only into buffers nothing else holds") {
  // x feeds three products and a sum that passes its gradient on unchanged:
  // the sums of the four contributions land in x's buffer, not in the shared one.
  Var x(make({1, 2}, {2}), true);
  Var w(make({3}, {1}), true);
  Var y = x * w + x * w + x + x;  // dy/dx = 2 w + 2 = 8, dy/dw = 2 sum(x) = 6
  y.backward(make({1, 1}, {2}));
  CHECK(values(x.grad()) == std::vector<double>{8, 8});
  CHECK(values(w.grad()) == std::vector<double>{6});
  // A gradient the caller holds is not changed by the next backward.
  const qs::engine::Tensor held = x.grad();
  (x * w).backward(make({1, 1}, {2}));
  CHECK(values(held) == std::vector<double>{8, 8});
  CHECK(values(x.grad()) == std::vector<double>{11, 11});
  // Without another holder the leaf's buffer is reused.
  const void* before = x.grad().storage().get();
  (x * w).backward(make({1, 1}, {2}));
  CHECK(x.grad().storage().get() == before);
  CHECK(values(x.grad()) == std::vector<double>{14, 14});
}
