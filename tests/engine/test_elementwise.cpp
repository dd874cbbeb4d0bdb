#include <cmath>

#include "engine/cpu/vec_math.h"
#include "support.h"

using namespace qs::engine;
using qs::test::make;
using qs::test::values;

TEST_CASE("unary math ops") {
  Tensor x = make({-2, -0.5, 0, 0.5, 2}, {5}, DType::f64);
  auto each = [&](double (*f)(double)) {
    std::vector<double> v;
    for (double a : values(x)) v.push_back(f(a));
    return make(v, {5}, DType::f64);
  };
  QS_CHECK_CLOSE(neg(x), each([](double a) { return -a; }), 1e-12);
  QS_CHECK_CLOSE(exp(x), each([](double a) { return std::exp(a); }), 1e-12);
  QS_CHECK_CLOSE(tanh(x), each([](double a) { return std::tanh(a); }), 1e-12);
  QS_CHECK_CLOSE(sigmoid(x), each([](double a) { return 1 / (1 + std::exp(-a)); }), 1e-12);
  QS_CHECK_CLOSE(relu(x), each([](double a) { return a > 0 ? a : 0.0; }), 0);
  QS_CHECK_CLOSE(abs(x), each([](double a) { return std::abs(a); }), 0);
  QS_CHECK_CLOSE(sign(x), each([](double a) { return double((a > 0) - (a < 0)); }), 0);
  QS_CHECK_CLOSE(silu(x), each([](double a) { return a / (1 + std::exp(-a)); }), 1e-12);
  QS_CHECK_CLOSE(gelu(x, GeluApprox::erf),
                 each([](double a) { return 0.5 * a * (1 + std::erf(a / std::sqrt(2.0))); }), 1e-12);
  QS_CHECK_CLOSE(gelu(x, GeluApprox::tanh), each([](double a) {
                   return 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
                 }),
                 1e-12);
  Tensor p = make({0.25, 1, 4}, {3}, DType::f64);
  QS_CHECK_CLOSE(log(p), make({std::log(0.25), 0, std::log(4.0)}, {3}, DType::f64), 1e-12);
  QS_CHECK_CLOSE(sqrt(p), make({0.5, 1, 2}, {3}, DType::f64), 1e-12);
  QS_CHECK_CLOSE(rsqrt(p), make({2, 1, 0.5}, {3}, DType::f64), 1e-12);
}

TEST_CASE("sigmoid does not overflow for large inputs") {
  Tensor y = sigmoid(make({-1000, 1000}, {2}));
  CHECK(values(y) == std::vector<double>{0, 1});
}

TEST_CASE("derivative ops match finite differences") {
  Tensor x = make({-3, -1, -0.1, 0.3, 1.7}, {5}, DType::f64);
  const double h = 1e-6;
  for (auto approx : {GeluApprox::erf, GeluApprox::tanh}) {
    Tensor fd = (gelu(x + h, approx) - gelu(x - h, approx)) / (2 * h);
    QS_CHECK_CLOSE(gelu_grad(x, approx), fd, 1e-7);
  }
  QS_CHECK_CLOSE(silu_grad(x), (silu(x + h) - silu(x - h)) / (2 * h), 1e-7);
}

TEST_CASE("round is half to even - clamp bounds") {
  CHECK(values(round(make({-1.5, -0.5, 0.5, 1.5, 2.5, 2.6}, {6}))) ==
        std::vector<double>{-2, -0, 0, 2, 2, 3});
  CHECK(values(clamp(make({-3, 0.5, 9}, {3}), -1, 2)) == std::vector<double>{-1, 0.5, 2});
}

TEST_CASE("binary ops with NumPy broadcasting") {
  Tensor a = make({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor col = make({10, 20}, {2, 1});
  Tensor row = make({1, 2, 3}, {3});
  CHECK(values(a + col) == std::vector<double>{11, 12, 13, 24, 25, 26});
  CHECK(values(a - row) == std::vector<double>{0, 0, 0, 3, 3, 3});
  CHECK(values(a * row) == std::vector<double>{1, 4, 9, 4, 10, 18});
  CHECK(values(a / row) == std::vector<double>{1, 1, 1, 4, 2.5, 2});
  CHECK(values(col * row) == std::vector<double>{10, 20, 30, 20, 40, 60});  // outer product
  CHECK(values(pow(a, 2.0)) == std::vector<double>{1, 4, 9, 16, 25, 36});
  CHECK(values(pow(make({4, 9}, {2}), make({0.5, 0.5}, {2}))) == std::vector<double>{2, 3});
  CHECK(values(maximum(a, make({3}, {1}))) == std::vector<double>{3, 3, 3, 4, 5, 6});
  CHECK(values(minimum(a, make({3}, {1}))) == std::vector<double>{1, 2, 3, 3, 3, 3});
  CHECK(values(a * 2.0 + 1.0) == std::vector<double>{3, 5, 7, 9, 11, 13});
  CHECK(values(add(make({1, 2}, {2}, DType::i64), make({5}, {1}, DType::i64))) ==
        std::vector<double>{6, 7});
}

TEST_CASE("binary ops read non-contiguous operands") {
  Tensor a = arange(0, 6, 1, DType::f32).view({2, 3});
  Tensor at = a.t();  // (3, 2)
  Tensor b = make({100, 200}, {2});
  CHECK(values(at + b) == std::vector<double>{100, 203, 101, 204, 102, 205});
  Tensor strided = arange(0, 10, 1, DType::f32).slice(0, 0, 10, 2);
  CHECK(values(exp(strided).to(DType::f64)) ==
        values(exp(make({0, 2, 4, 6, 8}, {5})).to(DType::f64)));
}

TEST_CASE("large elementwise ops split across threads give the same result") {
  Generator g(3);
  Tensor a = randn({300, 500}, g), b = randn({500}, g);
  Tensor c = a + b;
  // Spot-check against element access.
  for (int64_t i : {0, 777, 149999}) {
    CHECK(element_as_double(c, i) ==
          doctest::Approx(element_as_double(a, i) + element_as_double(b, i % 500)));
  }
}

TEST_CASE("comparisons give u8 masks") {
  Tensor a = make({1, 2, 3}, {3});
  Tensor b = make({2, 2, 2}, {3});
  CHECK(eq(a, b).dtype() == DType::u8);
  CHECK(values(eq(a, b)) == std::vector<double>{0, 1, 0});
  CHECK(values(ne(a, b)) == std::vector<double>{1, 0, 1});
  CHECK(values(lt(a, b)) == std::vector<double>{1, 0, 0});
  CHECK(values(le(a, b)) == std::vector<double>{1, 1, 0});
  CHECK(values(gt(a, b)) == std::vector<double>{0, 0, 1});
  CHECK(values(ge(a, b)) == std::vector<double>{0, 1, 1});
  CHECK(values(gt(a, 1.5)) == std::vector<double>{0, 1, 1});
}

TEST_CASE("where and masked_fill") {
  Tensor cond = gt(make({1, -1, 2}, {3}), 0.0);
  Tensor a = make({10, 20, 30}, {3});
  CHECK(values(where(cond, a, make({0}, {1}))) == std::vector<double>{10, 0, 30});
  Tensor causal = gt(arange(0, 3).view({1, 3}), arange(0, 3).view({3, 1}));
  Tensor scores = zeros({3, 3});
  Tensor masked = masked_fill(scores, causal, -INFINITY);
  CHECK(values(masked)[1] == -INFINITY);
  CHECK(values(masked)[3] == 0);
}

TEST_CASE("erf_f32 (GELU's vectorized erf) is within 2e-7 of erf, and GELU and its derivative in f32 follow f64") {
  using qs::engine::cpu::erf_f32;
  double worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -6.0f + 12.0f * static_cast<float>(i) / 200000.0f;
    worst = std::max(worst, std::abs(erf_f32(x) - std::erf(static_cast<double>(x))));
  }
  CHECK(worst < 2e-7);  // the approximation's 1.5e-7 plus f32 rounding
  CHECK(erf_f32(0.0f) == 0.0f);
  CHECK(erf_f32(INFINITY) == 1.0f);
  CHECK(erf_f32(-INFINITY) == -1.0f);
  CHECK(std::isnan(erf_f32(NAN)));
  Generator g(5);
  Tensor x = randn({4096}, g) * 3.0;
  Tensor x64 = x.to(DType::f64);
  QS_CHECK_CLOSE(gelu(x, GeluApprox::erf), gelu(x64, GeluApprox::erf), 2e-6);
  QS_CHECK_CLOSE(gelu_grad(x, GeluApprox::erf), gelu_grad(x64, GeluApprox::erf), 2e-6);
}

TEST_CASE("exp_f32 (the CPU kernels' vectorized exp) is within 2 ulp of expf, with its edge cases") {
  using qs::engine::cpu::exp_f32;
  double worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -87.0f + 175.5f * static_cast<float>(i) / 200000.0f;
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(exp_f32(x) - want) / want);
  }
  CHECK(worst < 2.5e-7);  // 2 ulp of f32 is 2.4e-7 relative
  CHECK(exp_f32(0.0f) == 1.0f);
  CHECK(exp_f32(-INFINITY) == 0.0f);
  CHECK(exp_f32(-200.0f) == 0.0f);
  CHECK(exp_f32(INFINITY) == INFINITY);
  CHECK(exp_f32(100.0f) == INFINITY);
  CHECK(std::isfinite(exp_f32(88.7f)));
  CHECK(std::isnan(exp_f32(NAN)));
  CHECK(qs::engine::cpu::fast_sigmoid(-1000.0f) == 0.0f);
  CHECK(qs::engine::cpu::fast_sigmoid(1000.0f) == 1.0f);
  CHECK(qs::engine::cpu::fast_sigmoid(0.0f) == 0.5f);
}

TEST_CASE("add_ adds in place, with broadcasting, and refuses what does not fit") {
  Tensor a = make({1, 2, 3, 4, 5, 6}, {2, 3});
  const void* p = a.data<float>();
  add_(a, make({10, 20, 30}, {3}));
  CHECK(values(a) == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK(a.data<float>() == p);
  add_(a.slice(1, 0, 1), make({100}, {1}));  // a strided view
  CHECK(values(a) == std::vector<double>{111, 22, 33, 114, 25, 36});
  CHECK_THROWS_WITH_AS(add_(a.slice(1, 0, 1), make({1, 2}, {2})), doctest::Contains("does not broadcast"), qs::Error);
  CHECK_THROWS_WITH_AS(add_(a, make({1, 2, 3}, {3}, DType::f64)), doctest::Contains("dtype mismatch"), qs::Error);
}
