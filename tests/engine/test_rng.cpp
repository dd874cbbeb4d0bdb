#include <omp.h>

#include <cmath>
#include <memory>

#include "support.h"

using namespace qs::engine;
using qs::test::make;
using qs::test::values;

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors") {
  auto zero = philox4x32({0, 0, 0, 0}, {0, 0});
  CHECK(zero == std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  auto ones = philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                         {0xffffffffu, 0xffffffffu});
  CHECK(ones == std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  auto pi = philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                       {0xa4093822u, 0x299f31d0u});
  CHECK(pi == std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("the same seed and offset give the same numbers") {
  Generator a(42), b(42), c(43);
  Tensor x = randn({1000}, a), y = randn({1000}, b), z = randn({1000}, c);
  CHECK(equal(x, y));
  CHECK(!equal(x, z));
  // A draw advances the offset: the next draw continues the stream.
  CHECK(a.offset() == 1000);
  Generator whole(7), parts(7);
  Tensor all = rand({10}, whole);
  Tensor first = rand({4}, parts), rest = rand({6}, parts);
  CHECK(equal(all, concat({first, rest}, 0)));
}

TEST_CASE("random numbers do not depend on the thread count") {
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Generator g1(5);
  Tensor one = randn({200000}, g1);
  omp_set_num_threads(2);
  Generator g2(5);
  Tensor two = randn({200000}, g2);
  omp_set_num_threads(threads);
  CHECK(equal(one, two));
}

TEST_CASE("uniform and normal draws have the right moments") {
  Generator g(9);
  Tensor u = rand({100000}, g, DType::f64, -1.0, 3.0);
  CHECK(min(u).item<double>() >= -1.0);
  CHECK(max(u).item<double>() < 3.0);
  CHECK(mean(u).item<double>() == doctest::Approx(1.0).epsilon(0.01));
  CHECK(var(u).item<double>() == doctest::Approx(16.0 / 12.0).epsilon(0.02));
  Tensor n = randn({100000}, g, DType::f32, 2.0, 0.5);
  CHECK(mean(n).item<double>() == doctest::Approx(2.0).epsilon(0.005));
  CHECK(std::sqrt(var(n).item<double>()) == doctest::Approx(0.5).epsilon(0.01));
}

TEST_CASE("dropout keeps exactly where rand draws >= p, scales by 1 / (1 - p), and its mask drives the backward") {
  for (DType dt : {DType::f32, DType::f64}) {
    INFO(dtype_name(dt));
    Generator g(5);
    Tensor x = randn({64, 300}, g, dt);
    const double p = 0.25;
    Tensor mask;
    Tensor y = dropout(x, p, 9, 77, &mask);
    // The composite it replaces: a mask from rand() at the same offset.
    Generator same(9, 77);
    Tensor keep = ge(rand(x.shape(), same, dt), p).to(dt);
    CHECK(equal(y, mul(x, keep * (1.0 / (1.0 - p)))));
    const double kept = sum(keep).item<double>() / static_cast<double>(x.numel());
    CHECK(kept == doctest::Approx(1.0 - p).epsilon(0.03));
    CHECK(equal(mask, ge(rand(x.shape(), *std::make_unique<Generator>(9, 77), dt), p)));
    // The backward pass through the mask is dropout of the gradient with the same draw.
    Tensor dy = randn({64, 300}, g, dt);
    CHECK(equal(dropout_backward(dy, mask, p), dropout(dy, p, 9, 77)));
    // Another offset, another mask.
    CHECK_FALSE(equal(dropout(x, p, 9, 78), y));
  }
  CHECK(equal(dropout(make({1, 2, 3}, {3}, DType::f32), 0.0, 1, 0), make({1, 2, 3}, {3}, DType::f32)));
  // A dropped element is 0 even where x is infinite (not x * 0 = NaN), a kept
  // one is x scaled; over several of the kernel's chunks, forward and backward.
  for (DType dt : {DType::f32, DType::f64}) {
    INFO(dtype_name(dt));
    Tensor inf = full({3 * 4096 + 7}, INFINITY, dt), mask;
    const Tensor y = dropout(inf, 0.5, 3, 0, &mask).to(DType::f64), back = dropout_backward(inf, mask, 0.5).to(DType::f64);
    int64_t dropped = 0;
    for (int64_t i = 0; i < inf.numel(); ++i) {
      const bool keep = mask.data<uint8_t>()[i] != 0;
      dropped += !keep;
      CHECK(y.data<double>()[i] == (keep ? INFINITY : 0.0));
      CHECK(back.data<double>()[i] == (keep ? INFINITY : 0.0));
    }
    CHECK(dropped > 0);
  }
  CHECK(qs::test::has(qs::test::error_of([] { dropout(make({1, 2}, {2}, DType::f32), 1.0, 1, 0); }), "p must be in [0, 1)"));
  CHECK(qs::test::has(qs::test::error_of([] { dropout_backward(make({1, 2}, {2}, DType::f32), make({1}, {1}, DType::u8), 0.1); }),
                      "a u8 mask of its shape"));
}
