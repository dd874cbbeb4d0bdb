// Every differentiable function against central finite differences in f64,
// including broadcasting and non-contiguous inputs.
#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "support.h"

using namespace qs::autograd;
namespace e = qs::engine;

namespace {

e::Generator gen(2024);

Tensor rnd(const Shape& s, double lo = -1.0, double hi = 1.0) {
  return e::rand(s, gen, DType::f64, lo, hi);
}
Tensor positive(const Shape& s) { return rnd(s, 0.5, 2.0); }
// A (rows, cols) tensor seen through a transpose: strides are not row-major.
Tensor transposed(int64_t rows, int64_t cols) { return rnd({cols, rows}).t(); }

using Fn = std::function<Var(const std::vector<Var>&)>;

void check(const Fn& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {}) {
  GradcheckResult r = gradcheck(f, inputs, opt);
  INFO(r.message);
  CHECK(r.ok);
}

}  // namespace

TEST_CASE("gradcheck: arithmetic with broadcasting") {
  check([](auto v) { return add(v[0], v[1]); }, {rnd({3, 4}), rnd({4})});
  check([](auto v) { return sub(v[0], v[1]); }, {rnd({3, 1}), rnd({1, 4})});
  check([](auto v) { return mul(v[0], v[1]); }, {rnd({2, 3, 4}), rnd({3, 1})});
  check([](auto v) { return div(v[0], v[1]); }, {rnd({3, 4}), positive({4})});
  check([](auto v) { return add(v[0], 2.5) * 3.0; }, {rnd({5})});
  check([](auto v) { return pow(v[0], v[1]); }, {positive({3, 2}), rnd({2})});
  check([](auto v) { return pow(v[0], 3.0); }, {rnd({4})});
  check([](auto v) { return neg(v[0]); }, {rnd({4})});
}

TEST_CASE("gradcheck: arithmetic on non-contiguous inputs") {
  check([](auto v) { return mul(v[0], v[1]); }, {transposed(3, 4), transposed(3, 4)});
  check([](auto v) { return div(v[0], v[1]); }, {transposed(3, 4), positive({4, 3}).t()});
  check([](auto v) { return add(v[0], v[1]); }, {rnd({6, 4}).slice(0, 0, 6, 2), rnd({4})});
}

TEST_CASE("gradcheck: unary functions") {
  Tensor x = transposed(3, 5);
  check([](auto v) { return exp(v[0]); }, {x});
  check([](auto v) { return log(v[0]); }, {positive({3, 4})});
  check([](auto v) { return sqrt(v[0]); }, {positive({3, 4})});
  check([](auto v) { return rsqrt(v[0]); }, {positive({3, 4})});
  check([](auto v) { return tanh(v[0]); }, {x});
  check([](auto v) { return sigmoid(v[0]); }, {x});
  check([](auto v) { return silu(v[0]); }, {x});
  check([](auto v) { return gelu(v[0], GeluApprox::erf); }, {x});
  check([](auto v) { return gelu(v[0], GeluApprox::tanh); }, {x});
  // Away from the kinks at 0 (finite differences are not defined there).
  Tensor away = e::add(e::mul(e::sign(rnd({12})), e::scalar(0.5, DType::f64)), rnd({12}, -0.4, 0.4));
  check([](auto v) { return relu(v[0]); }, {away});
  check([](auto v) { return abs(v[0]); }, {away});
}

TEST_CASE("gradcheck: clamp passes gradient only inside the range") {
  Tensor x = qs::test::make({-2.0, -0.5, 0.3, 0.9, 1.7}, {5}, DType::f64);
  check([](auto v) { return clamp(v[0], -1.0, 1.0); }, {x});
}

TEST_CASE("straight-through round: forward rounds, backward is the identity") {
  Var x(qs::test::make({0.2, 1.7, -2.6}, {3}, DType::f64), true);
  Var y = round_ste(x);
  CHECK(qs::test::values(y.data()) == std::vector<double>{0, 2, -3});
  sum(y * 2.0).backward();
  CHECK(qs::test::values(x.grad()) == std::vector<double>{2, 2, 2});
  // A quantizer built from it: d/dx of round(x / s) * s is 1 under the STE.
  Var s(qs::test::make({0.5}, {1}, DType::f64), true);
  Var q = round_ste(x / s) * s;
  x.zero_grad();
  sum(q).backward();
  CHECK(qs::test::values(x.grad()) == std::vector<double>{1, 1, 1});
}

TEST_CASE("gradcheck: where and masked_fill") {
  Tensor cond = e::gt(rnd({3, 4}), 0.0);
  check([cond](auto v) { return where(cond, v[0], v[1]); }, {rnd({3, 4}), rnd({4})});
  Tensor mask = e::gt(rnd({1, 4}), 0.0);
  check([mask](auto v) { return masked_fill(v[0], mask, -5.0); }, {transposed(3, 4)});
}

TEST_CASE("gradcheck: reductions") {
  Tensor x = transposed(4, 5);
  check([](auto v) { return sum(v[0]); }, {x});
  check([](auto v) { return sum(v[0], 1); }, {x});
  check([](auto v) { return sum(v[0], 0, true); }, {x});
  check([](auto v) { return sum(v[0], std::vector<int64_t>{0, 2}); }, {rnd({2, 3, 4})});
  check([](auto v) { return mean(v[0]); }, {x});
  check([](auto v) { return mean(v[0], -1, true); }, {x});
  check([](auto v) { return max(v[0], 1); }, {x});
  check([](auto v) { return max(v[0], 0, true); }, {x});
  check([](auto v) { return max(v[0]); }, {x});
  check([](auto v) { return var(v[0], 1); }, {x});
  check([](auto v) { return var(v[0], 0, 0, true); }, {x});
  check([](auto v) { return var(v[0]); }, {x});
}

TEST_CASE("gradcheck: views and data movement") {
  Tensor x = rnd({2, 3, 4});
  check([](auto v) { return reshape(v[0], {4, 6}) * reshape(v[0], {4, 6}); }, {x});
  check([](auto v) { return mul(transpose(v[0], 0, 2), transpose(v[0], 0, 2)); }, {x});
  check([](auto v) { return exp(permute(v[0], {1, 2, 0})); }, {x});
  check([](auto v) { return exp(slice(v[0], 2, 1, 4, 2)); }, {x});
  check([](auto v) { return exp(expand(v[0], {2, 3, 4})); }, {rnd({3, 1})});
  check([](auto v) { return exp(squeeze(unsqueeze(v[0], 1), 1)); }, {x});
  check([](auto v) { return exp(contiguous(v[0])); }, {transposed(3, 4)});
  check([](auto v) { return exp(concat({v[0], v[1]}, 1)); }, {rnd({2, 3}), transposed(2, 2)});
  Tensor idx = e::from_vector<int64_t>({2, 0, 2});
  check([idx](auto v) { return exp(index_select(v[0], 0, idx)); }, {rnd({3, 4})});
}

TEST_CASE("gradcheck: matmul, plain, transposed, batched and broadcast") {
  check([](auto v) { return matmul(v[0], v[1]); }, {rnd({3, 4}), rnd({4, 5})});
  check([](auto v) { return matmul(v[0], v[1]); }, {transposed(3, 4), transposed(4, 5)});
  check([](auto v) { return matmul(v[0], v[1]); }, {rnd({2, 3, 4}), rnd({4, 2})});
  check([](auto v) { return matmul(v[0], v[1]); }, {rnd({2, 3, 4}), rnd({2, 4, 2})});
  check([](auto v) { return matmul(v[0], transpose(v[1], -1, -2)); }, {rnd({2, 1, 3, 4}), rnd({3, 5, 4})});
}

TEST_CASE("gradcheck: softmax and log_softmax") {
  check([](auto v) { return softmax(v[0]); }, {rnd({3, 5})});
  check([](auto v) { return log_softmax(v[0]); }, {transposed(3, 5)});
}

TEST_CASE("gradcheck: layer_norm and rms_norm") {
  check([](auto v) { return layer_norm(v[0], v[1], v[2]); }, {rnd({2, 3, 6}), rnd({6}), rnd({6})});
  check([](auto v) { return layer_norm(v[0], Var(), Var()); }, {transposed(4, 5)});
  check([](auto v) { return rms_norm(v[0], v[1]); }, {rnd({3, 6}), rnd({6})});
  check([](auto v) { return rms_norm(v[0], Var()); }, {transposed(4, 5)});
}

TEST_CASE("gradcheck: embedding, rope and cross_entropy") {
  Tensor ids = e::from_vector<int64_t>({1, 3, 1, 0, 2, 1}, {2, 3});
  check([ids](auto v) { return embedding(v[0], ids); }, {rnd({4, 5})});
  Tensor pos = e::arange(3, 7);
  check([pos](auto v) { return rope(v[0], pos); }, {rnd({2, 2, 4, 6})});
  check([pos](auto v) { return rope(v[0], pos, 100.0); }, {rnd({2, 6, 4}).transpose(0, 1).transpose(1, 2)});
  Tensor targets = e::from_vector<int64_t>({2, -100, 0, 4});
  check([targets](auto v) { return cross_entropy(v[0], targets); }, {rnd({4, 5}, -2, 2)});
  check([targets](auto v) { return cross_entropy(v[0], targets); }, {transposed(4, 5)});
}

TEST_CASE("gradcheck: dropout, whose backward reads the forward's mask") {
  // A generator per call: every evaluation of f must see the same mask.
  check([](auto v) {
    e::Generator g(31, 5);
    return dropout(v[0], 0.4, g);
  }, {transposed(6, 7)});
}

TEST_CASE("gradcheck: dropout_matmul, whose backward rebuilds the dropped input") {
  check([](auto v) {
    e::Generator g(31, 5);
    return dropout_matmul(v[0], v[1], 0.4, g);
  }, {rnd({2, 3, 5}), transposed(5, 4)});
  check([](auto v) {
    e::Generator g(7);
    return dropout_matmul(v[0], v[1], 0.3, g);
  }, {transposed(6, 5), rnd({5, 3})});
}

TEST_CASE("gradcheck notices a wrong gradient") {
  // A deliberately wrong backward must fail the check.
  auto wrong = [](const std::vector<Var>& v) {
    Tensor x = v[0].data();
    return make_result(e::mul(x, x), "wrong_square", {v[0]}, [x](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{e::mul(g, x)};  // should be 2 x g
    });
  };
  GradcheckResult r = gradcheck(wrong, {rnd({3})});
  CHECK(!r.ok);
  CHECK(r.message.find("checked tensor 0") != std::string::npos);
}
