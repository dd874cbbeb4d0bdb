#include <cmath>

#include "support.h"

using namespace qs::engine;
using qs::test::make;
using qs::test::values;

TEST_CASE("softmax and log_softmax along the last dim") {
  Tensor x = make({1, 2, 3, 1000, 1000, 1000}, {2, 3}, DType::f64);
  Tensor p = softmax(x);
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  QS_CHECK_CLOSE(p, make({std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z, 1.0 / 3, 1.0 / 3, 1.0 / 3}, {2, 3}, DType::f64), 1e-12);
  QS_CHECK_CLOSE(log_softmax(x), log(p), 1e-12);
  // A fully masked row attends nowhere rather than giving NaN.
  Tensor masked = softmax(make({-INFINITY, -INFINITY, 0, -INFINITY}, {2, 2}));
  CHECK(values(masked) == std::vector<double>{0, 0, 1, 0});
}

TEST_CASE("softmax backward matches its Jacobian") {
  Tensor y = softmax(make({0.1, -0.3, 0.7}, {3}, DType::f64));
  Tensor dy = make({1, 0, 0}, {3}, DType::f64);
  // column 0 of J = diag(y) - y y^T
  std::vector<double> yv = values(y);
  QS_CHECK_CLOSE(softmax_backward(y, dy), make({yv[0] - yv[0] * yv[0], -yv[1] * yv[0], -yv[2] * yv[0]}, {3}, DType::f64), 1e-12);
}

TEST_CASE("layer_norm and rms_norm by hand") {
  Tensor x = make({1, 2, 3, 4, -1, 0, 1, 2}, {2, 4}, DType::f64);
  Tensor w = make({1, 2, 1, 1}, {4}, DType::f64);
  Tensor b = make({0, 0, 0, 1}, {4}, DType::f64);
  const double s = 1.0 / std::sqrt(1.25 + 1e-5);
  QS_CHECK_CLOSE(layer_norm(x, w, b, 1e-5),
                 make({-1.5 * s, -1.0 * s, 0.5 * s, 1.5 * s + 1, -1.5 * s, -1.0 * s, 0.5 * s, 1.5 * s + 1}, {2, 4}, DType::f64), 1e-12);
  NormForward f = layer_norm_forward(x, Tensor(), Tensor(), 1e-5);
  CHECK(values(f.mean) == std::vector<double>{2.5, 0.5});
  const double r0 = 1.0 / std::sqrt(30.0 / 4 + 1e-6);
  QS_CHECK_CLOSE(rms_norm(x.slice(0, 0, 1), w, 1e-6), make({r0, 4 * r0, 3 * r0, 4 * r0}, {1, 4}, DType::f64), 1e-12);
}

TEST_CASE("embedding, index_select and index_add_") {
  Tensor w = arange(0, 12, 1, DType::f32).view({4, 3});
  Tensor ids = from_vector<int64_t>({3, 0, 3, 1}, {2, 2});
  Tensor e = embedding(w, ids);
  CHECK(e.shape() == Shape{2, 2, 3});
  CHECK(values(e) == std::vector<double>{9, 10, 11, 0, 1, 2, 9, 10, 11, 3, 4, 5});
  Tensor cols = index_select(w, 1, from_vector<int32_t>({2, 0}));
  CHECK(values(cols) == std::vector<double>{2, 0, 5, 3, 8, 6, 11, 9});
  Tensor acc = zeros({4, 3});
  index_add_(acc, 0, from_vector<int64_t>({3, 0, 3, 1}), ones({4, 3}));
  CHECK(values(acc) == std::vector<double>{1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2});
}

TEST_CASE("concat along any dim") {
  Tensor a = make({1, 2, 3, 4}, {2, 2});
  Tensor b = make({5, 6}, {2, 1});
  CHECK(values(concat({a, b}, 1)) == std::vector<double>{1, 2, 5, 3, 4, 6});
  CHECK(values(concat({a, b.t()}, 0)) == std::vector<double>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("rope rotates pairs (i, i + D/2) by position-dependent angles") {
  // D = 4: pair (0, 2) turns at 1 rad per position, pair (1, 3) at 1/100.
  Tensor x = make({1, 0, 0, 0, 1, 0, 0, 0}, {2, 4}, DType::f64);  // T = 2
  Tensor pos = from_vector<int64_t>({0, 1});
  Tensor y = rope(x, pos, 10000.0);
  QS_CHECK_CLOSE(y, make({1, 0, 0, 0, std::cos(1.0), 0, std::sin(1.0), 0}, {2, 4}, DType::f64), 1e-12);
  // The inverse rotation undoes it; norms are preserved.
  Generator g(2);
  Tensor r = randn({2, 3, 5, 8}, g, DType::f64);
  Tensor p = arange(7, 12);
  QS_CHECK_CLOSE(rope(rope(r, p), p, 10000.0, true), r, 1e-12);
  QS_CHECK_CLOSE(sum(rope(r, p) * rope(r, p), -1), sum(r * r, -1), 1e-12);
}

TEST_CASE("rope's cached angle table follows the positions, theta and head size of each call") {
  // D = 2: one pair, turned by position * theta^0 = position rad whatever theta;
  // D = 4: the second pair turns at position / theta^(1/2).
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor x = make({0, 1, 0, 0}, {1, 4}, dtype);
    const Tensor p3 = from_vector<int64_t>({3}), p5 = from_vector<int64_t>({5});
    auto expect = [&](double pos, double theta) {
      const double a = pos / std::sqrt(theta);
      return make({0, std::cos(a), 0, std::sin(a)}, {1, 4}, dtype);
    };
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-12;
    QS_CHECK_CLOSE(rope(x, p3, 100.0), expect(3, 100), tol);
    QS_CHECK_CLOSE(rope(x, p5, 100.0), expect(5, 100), tol);  // same length, other position
    QS_CHECK_CLOSE(rope(x, p5, 400.0), expect(5, 400), tol);  // other theta
    QS_CHECK_CLOSE(rope(x, p5, 400.0, false, 0.5), expect(2.5, 400), tol);  // linear scaling by 2
    QS_CHECK_CLOSE(rope(x, p5, 400.0), expect(5, 400), tol);               // and back
    QS_CHECK_CLOSE(rope(make({1, 0}, {1, 2}, dtype), p5, 400.0), make({std::cos(5.0), std::sin(5.0)}, {1, 2}, dtype), tol);
    QS_CHECK_CLOSE(rope(x, p5, 400.0, true), make({0, std::cos(0.25), 0, -std::sin(0.25)}, {1, 4}, dtype), tol);
  }
}

TEST_CASE("cross_entropy with an ignore index") {
  Tensor logits = make({0, 0, 0, 1, 2, 3, 5, 5, 5}, {3, 3}, DType::f64);
  Tensor targets = from_vector<int64_t>({0, 2, -100});
  const double l0 = std::log(3.0);
  const double l1 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  CHECK(cross_entropy(logits, targets).item<double>() == doctest::Approx((l0 + l1) / 2));
  Tensor g = cross_entropy_backward(logits, targets, -100, 1.0);
  std::vector<double> gv = values(g);
  CHECK(gv[0] == doctest::Approx((1.0 / 3 - 1) / 2));
  CHECK(gv[1] == doctest::Approx(1.0 / 6));
  CHECK(gv[6] == 0.0);
  CHECK(cross_entropy(logits, from_vector<int64_t>({-100, -100, -100})).item<double>() == 0.0);
}
