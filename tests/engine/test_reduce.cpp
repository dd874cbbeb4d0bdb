#include <cmath>

#include "support.h"

using namespace qs::engine;
using qs::test::make;
using qs::test::values;

TEST_CASE("sum and mean along each dim, with and without keepdim") {
  Tensor x = arange(0, 24, 1, DType::f32).view({2, 3, 4});
  CHECK(sum(x, 0).shape() == Shape{3, 4});
  CHECK(values(sum(x, 0))[0] == 12);
  CHECK(sum(x, 1, true).shape() == Shape{2, 1, 4});
  CHECK(values(sum(x, 1)) == std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57});
  CHECK(values(sum(x, -1)) == std::vector<double>{6, 22, 38, 54, 70, 86});
  CHECK(values(mean(x, 2)) == std::vector<double>{1.5, 5.5, 9.5, 13.5, 17.5, 21.5});
  CHECK(sum(x).item<double>() == 276);
  CHECK(sum(x).dim() == 0);
  CHECK(mean(x).item<double>() == 11.5);
  CHECK(values(sum(x, {0, 2})) == std::vector<double>{60, 92, 124});
  CHECK(sum(x, {0, 2}, true).shape() == Shape{1, 3, 1});
}

TEST_CASE("reductions of non-contiguous and integer tensors") {
  Tensor x = arange(0, 6, 1, DType::f32).view({2, 3}).t();  // (3, 2)
  CHECK(values(sum(x, 1)) == std::vector<double>{3, 5, 7});
  CHECK(values(sum(arange(0, 5), 0)) == std::vector<double>{10});
  CHECK(sum(arange(0, 5), 0).dtype() == DType::i64);
}

TEST_CASE("max, min and argmax give values and first indices") {
  Tensor x = make({3, 9, 9, 1, 7, 2}, {2, 3});
  auto [v1, i1] = max(x, 1);
  CHECK(values(v1) == std::vector<double>{9, 7});
  CHECK(values(i1) == std::vector<double>{1, 1});
  auto [v0, i0] = min(x, 0);
  CHECK(values(v0) == std::vector<double>{1, 7, 2});
  CHECK(values(i0) == std::vector<double>{1, 1, 1});
  CHECK(values(argmax(x, 0, true)) == std::vector<double>{0, 0, 0});
  CHECK(argmax(x, 0, true).shape() == Shape{1, 3});
  CHECK(max(x).item<double>() == 9);
  CHECK(min(x).item<double>() == 1);
  CHECK(std::isnan(max(make({1, NAN, 3}, {3})).item<double>()));
}

TEST_CASE("var with Bessel's correction, along a dim and in full") {
  Tensor x = make({1, 2, 3, 4, 2, 4, 6, 8}, {2, 4}, DType::f64);
  CHECK(values(var(x, 1)) == std::vector<double>{5.0 / 3.0, 20.0 / 3.0});
  CHECK(values(var(x, 1, 0)) == std::vector<double>{1.25, 5});
  CHECK(values(var(x, 0)) == std::vector<double>{0.5, 2, 4.5, 8});
  CHECK(var(x).item<double>() == doctest::Approx(37.5 / 7));
}

TEST_CASE("long full reductions are exact enough and thread-independent") {
  Tensor x = ones({1000003}, DType::f32);
  CHECK(sum(x).item<double>() == 1000003.0);
  Generator g(1);
  Tensor r = randn({1 << 20}, g);
  CHECK(sum(r).item<double>() == sum(r).item<double>());
}

TEST_CASE("sum_to undoes broadcasting") {
  Tensor g = ones({2, 3, 4});
  CHECK(values(sum_to(g, {3, 1})) == std::vector<double>{8, 8, 8});
  CHECK(sum_to(g, {4}).shape() == Shape{4});
  CHECK(values(sum_to(g, {})) == std::vector<double>{24});
  CHECK(sum_to(g, {2, 3, 4}).storage() == g.storage());
}
