// GradReadyHook: what data-parallel overlap relies on - each leaf reported
// once, only when its gradient is final, and never from a nested backward.
#include <algorithm>
#include <map>

#include "autograd/checkpoint.h"
#include "autograd/functions.h"
#include "autograd/grad_ready.h"
#include "support.h"

using namespace qs::autograd;
namespace e = qs::engine;
using qs::test::make;
using qs::test::values;

TEST_CASE("the grad-ready hook reports each leaf once, with its final gradient") {
  Var w1(make({1, 2, 3, 4}, {2, 2}), true), w2(make({0.5, -1}, {2, 1}), true);
  Var unused(make({7}, {1}), true);
  Var x(make({1, -2, 3, 0.5}, {2, 2}));  // not trainable: never reported
  // w1 feeds the graph twice (h and the skip term): reported after both.
  Var h = relu(matmul(x, w1));
  Var y = sum(matmul(h, w2)) + sum(w1 * w1);
  std::map<VarImpl*, std::vector<double>> at_report;
  std::vector<VarImpl*> order;
  {
    GradReadyHook hook([&](VarImpl* leaf) {
      order.push_back(leaf);
      at_report[leaf] = values(leaf->grad);
    });
    y.backward();
  }
  CHECK(order.size() == 2);
  CHECK(at_report.count(w1.impl()) == 1);
  CHECK(at_report.count(w2.impl()) == 1);
  CHECK(!at_report.count(unused.impl()));
  CHECK(at_report[w1.impl()] == values(w1.grad()));  // nothing added after the report
  CHECK(at_report[w2.impl()] == values(w2.grad()));
  // Without a hook nothing is reported, and the gradients are the same.
  const std::vector<double> g1 = values(w1.grad());
  w1.zero_grad();
  w2.zero_grad();
  order.clear();
  Var h2 = relu(matmul(x, w1));
  (sum(matmul(h2, w2)) + sum(w1 * w1)).backward();
  CHECK(order.empty());
  CHECK(values(w1.grad()) == g1);
}

TEST_CASE("the grad-ready hook leaves checkpointed segments to the final accumulation") {
  Var w(make({0.1, 0.2, 0.3, 0.4}, {2, 2}), true), v(make({1, 1}, {2, 1}), true);
  Var x0(make({1, 2, 3, 4}, {2, 2}), true);
  Var x = x0 * 2.0;  // the segment's input (a checkpoint records a node only when one requires grad)
  std::vector<VarImpl*> reported;
  Var inner = checkpoint([&](const std::vector<Var>& in) { return tanh(matmul(in[0], w)); }, {x});
  {
    GradReadyHook hook([&](VarImpl* leaf) { reported.push_back(leaf); });
    sum(matmul(inner, v)).backward();
  }
  // v and x0 are outside the segment; w is differentiated by the nested backward.
  CHECK(reported.size() == 2);
  CHECK(std::count(reported.begin(), reported.end(), v.impl()) == 1);
  CHECK(std::count(reported.begin(), reported.end(), x0.impl()) == 1);
  CHECK(std::count(reported.begin(), reported.end(), w.impl()) == 0);
  CHECK(w.grad().defined());

  // A leaf used outside the segment too would be reported before the nested
  // backward adds to it: an error, not a stale gradient.
  w.zero_grad();
  v.zero_grad();
  x0.zero_grad();
  Var seg = checkpoint([&](const std::vector<Var>& in) { return tanh(matmul(in[0], w)); }, {x});
  Var y = sum(matmul(seg, v)) + sum(w);  // sum(w) is differentiated first
  GradReadyHook hook([](VarImpl*) {});
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("changed after it was reported final"), qs::Error);
}
