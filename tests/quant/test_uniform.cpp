#include "autograd/functions.h"
#include "quant/fake_quant.h"
#include "quant/packing.h"
#include "quant/uniform.h"
#include "support.h"

using namespace qs::quant;
namespace ag = qs::autograd;
namespace e = qs::engine;
using qs::test::make;
using qs::test::values;

TEST_CASE("asymmetric 4-bit quantization by hand") {
  QuantSpec spec{4, 4, false};
  Tensor w = make({-1, 0, 0.5, 2}, {1, 4});
  GroupParams p = minmax_params(w, spec);
  CHECK(values(p.scale)[0] == doctest::Approx(0.2));
  CHECK(values(p.zero)[0] == 5);
  Tensor q = quantize(w, p, spec);
  CHECK(values(q) == std::vector<double>{0, 5, 7, 15});  // 0.5 / 0.2 = 2.5 rounds to even 2
  QS_CHECK_CLOSE(dequantize(q, p, spec), make({-1, 0, 0.4, 2}, {1, 4}), 1e-6);
}

TEST_CASE("symmetric 4-bit quantization by hand") {
  QuantSpec spec{4, 4, true};
  Tensor w = make({-2, 0.9, 0.5, 0.1}, {1, 4});
  GroupParams p = minmax_params(w, spec);
  CHECK(values(p.scale)[0] == doctest::Approx(2.0 / 7));
  CHECK(values(p.zero)[0] == 8);
  Tensor q = quantize(w, p, spec);
  CHECK(values(q) == std::vector<double>{1, 11, 10, 8});  // 0.9 / (2/7) = 3.15, 0.5 / (2/7) = 1.75
  QS_CHECK_CLOSE(dequantize(q, p, spec), make({-2, 6.0 / 7, 4.0 / 7, 0}, {1, 4}), 1e-6);
}

TEST_CASE("every bit width: codes in range and error at most half a step") {
  e::Generator gen(1);
  Tensor w = e::randn({6, 50}, gen);
  for (int bits : {2, 3, 4, 8}) {
    for (bool sym : {false, true}) {
      QuantSpec spec{bits, 16, sym};  // 50 = 3 * 16 + 2: the last group is short
      CAPTURE(spec.str());
      GroupParams p = minmax_params(w, spec);
      CHECK(p.scale.shape() == e::Shape{6, 4});
      Tensor q = quantize(w, p, spec);
      CHECK(e::max(q.to(e::DType::f32)).item<double>() <= spec.levels());
      Tensor err = grouped(e::abs(dequantize(q, p, spec) - w), spec);  // (6, 4, 16)
      Tensor half_step = p.scale.unsqueeze(2) * 0.5 + 1e-6;
      CHECK(e::max(e::sub(err, half_step)).item<double>() <= 0.0);
    }
  }
}

TEST_CASE("pack and unpack round-trip every width, and the 3-bit layout") {
  e::Generator gen(2);
  for (int bits : {2, 3, 4, 8}) {
    for (int64_t in : {1, 7, 8, 13, 64}) {
      Tensor codes = e::clamp(e::round(e::rand({3, in}, gen, e::DType::f32, 0, (1 << bits) - 1)), 0, (1 << bits) - 1).to(e::DType::u8);
      Tensor packed = pack_codes(codes, bits);
      CHECK(packed.size(1) == (in * bits + 7) / 8);
      CHECK(e::equal(unpack_codes(packed, bits, in), codes));
    }
  }
  Tensor c = e::from_vector<uint8_t>({1, 2, 3, 4, 5, 6, 7, 0}, {1, 8});
  CHECK(qs::test::values(pack_codes(c, 3)) == std::vector<double>{209, 88, 31});
  CHECK(qs::test::values(pack_codes(e::from_vector<uint8_t>({1, 15, 3}, {1, 3}), 4)) == std::vector<double>{241, 3});
  CHECK_THROWS_AS(pack_codes(e::from_vector<uint8_t>({9}, {1, 1}), 3), qs::Error);
}

TEST_CASE("fake quantization with alpha = 1 equals quantize + dequantize") {
  e::Generator gen(3);
  Tensor w = e::randn({4, 32}, gen);
  QuantSpec spec{4, 8, false};
  GroupParams p = minmax_params(w, spec);
  Tensor fake = fake_quantize_grid(ag::Var(w), p, ag::Var(e::ones({4, 4})), spec).data();
  QS_CHECK_CLOSE(fake, dequantize(quantize(w, p, spec), p, spec), 1e-6);
}

TEST_CASE("STE: d w_hat / d alpha = -w / alpha^2 where unclipped, 0 where clamped") {
  // group_size 1: each element has its own alpha, so the gradient is per element.
  QuantSpec spec{4, 1, false};
  Tensor w = make({0.3, -0.7, 1.1, 0.05, -1.3, 0.9}, {1, 6}, e::DType::f64);
  // A grid with s = 0.1 and z = 8 for every element: codes reach 0..15, i.e. w in [-0.8, 0.7].
  GroupParams grid{e::full({1, 6}, 0.1, e::DType::f64), e::full({1, 6}, 8.0, e::DType::f64)};
  ag::Var alpha(make({1.0, 0.9, 1.2, 1.1, 2.0, 0.95}, {1, 6}, e::DType::f64), true);
  ag::sum(fake_quantize_grid(ag::Var(w), grid, alpha, spec)).backward();
  std::vector<double> wv = values(w), av = values(alpha.data()), g = values(alpha.grad());
  for (int i = 0; i < 6; ++i) {
    CAPTURE(i);
    const double code = std::nearbyint(wv[i] / (0.1 * av[i])) + 8;
    const bool clamped = code < 0 || code > 15;
    CHECK(g[i] == doctest::Approx(clamped ? 0.0 : -wv[i] / (av[i] * av[i])));
  }
  CHECK(g[2] == 0.0);  // 1.1 / 0.12 + 8 > 15: clamped
  CHECK(g[4] != 0.0);  // -1.3 / 0.2 + 8 = 1.5: inside thanks to alpha = 2
}

TEST_CASE("STE: clipping-factor gradients follow the analytic formula") {
  // One group of 4 (asymmetric): s = (sig(u) max - sig(l) min) / Q, z constant.
  // d w_hat_i / d s = (q_i - z) - w_i / s unclipped, (q_i - z) clamped;
  // d s / d u = sig'(u) max / Q,  d s / d l = -sig'(l) min / Q.
  QuantSpec spec{3, 4, false};
  Tensor w = make({-0.9, -0.2, 0.35, 1.0}, {1, 4}, e::DType::f64);
  const double u0 = 0.5, l0 = 1.5;
  ag::Var u(make({u0}, {1, 1}, e::DType::f64), true), l(make({l0}, {1, 1}, e::DType::f64), true);
  ag::sum(fake_quantize_lwc(ag::Var(w), u, l, spec)).backward();
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  const double hi = sig(u0) * 1.0, lo = sig(l0) * -0.9, s = (hi - lo) / 7, z = std::nearbyint(-lo / s);
  double dsum_ds = 0;
  for (double wi : values(w)) {
    const double raw = std::nearbyint(wi / s) + z;
    const double q = std::min(7.0, std::max(0.0, raw));
    dsum_ds += (q - z) - ((raw == q) ? wi / s : 0.0);
  }
  CHECK(values(u.grad())[0] == doctest::Approx(dsum_ds * sig(u0) * (1 - sig(u0)) * 1.0 / 7));
  CHECK(values(l.grad())[0] == doctest::Approx(dsum_ds * -sig(l0) * (1 - sig(l0)) * -0.9 / 7));
}

TEST_CASE("2-, 3- and 8-bit asymmetric quantization by hand") {
  Tensor w = make({-1, 0, 0.5, 2}, {1, 4});
  // 2 bits: Q = 3, s = 1, z = 1 -> codes round(w) + 1
  QuantSpec s2{2, 4, false};
  GroupParams p2 = minmax_params(w, s2);
  CHECK(values(p2.scale)[0] == doctest::Approx(1.0));
  CHECK(values(p2.zero)[0] == 1);
  CHECK(values(quantize(w, p2, s2)) == std::vector<double>{0, 1, 1, 3});  // 0.5 rounds to even 0
  // 3 bits: Q = 7, s = 3/7, z = round(7/3) = 2
  QuantSpec s3{3, 4, false};
  GroupParams p3 = minmax_params(w, s3);
  CHECK(values(p3.scale)[0] == doctest::Approx(3.0 / 7));
  CHECK(values(p3.zero)[0] == 2);
  CHECK(values(quantize(w, p3, s3)) == std::vector<double>{0, 2, 3, 7});  // -2.33->-2, 1.17->1, 4.67->5 (+2, clamped)
  // 8 bits: Q = 255, s = 3/255, z = 85; 0.6 / s = 51
  QuantSpec s8{8, 4, false};
  Tensor w8 = make({-1, 0, 0.6, 2}, {1, 4});
  GroupParams p8 = minmax_params(w8, s8);
  CHECK(values(p8.zero)[0] == 85);
  CHECK(values(quantize(w8, p8, s8)) == std::vector<double>{0, 85, 136, 255});
}

TEST_CASE("engine::dequantize_packed reads quant's packed layout for every width, whole or by row ranges") {
  e::Generator g(12);
  for (int bits : {2, 3, 4, 8}) {
    const int64_t out = 5, in = 37, group = 8, groups = 5;
    Tensor codes = e::round(e::rand({out, in}, g, e::DType::f32, 0.0, double((1 << bits) - 1))).to(e::DType::u8);
    Tensor scale = e::rand({out, groups}, g, e::DType::f32, 0.01, 0.1);
    Tensor zero = e::round(e::rand({out, groups}, g, e::DType::f32, 0.0, double((1 << bits) - 1)));
    Tensor packed = pack_codes(codes, bits);
    Tensor w = e::dequantize_packed(packed, scale, zero, bits, group, in);
    INFO("bits ", bits);
    for (int64_t r0 : {0, 2, 4}) {  // tiles that start and end anywhere
      Tensor tile({std::min<int64_t>(2, out - r0), in}, e::DType::f32);
      e::dequantize_packed_(tile, r0, packed, scale, zero, bits, group);
      CHECK(e::equal(tile, w.slice(0, r0, r0 + tile.size(0))));
    }
    Tensor too_far({2, in}, e::DType::f32);
    CHECK(qs::test::has(qs::test::error_of([&] { e::dequantize_packed_(too_far, 4, packed, scale, zero, bits, group); }),
                        "outside the 5 rows"));
    std::vector<int64_t> col_group(in);
    for (int64_t j = 0; j < in; ++j) col_group[j] = j / group;
    Tensor idx = e::from_vector(col_group);
    QS_CHECK_CLOSE(w, (codes.to(e::DType::f32) - e::index_select(zero, 1, idx)) * e::index_select(scale, 1, idx), 1e-6);
  }
}

TEST_CASE("fused grid fake quantization equals the composite of autograd ops, forward and STE gradients") {
  e::Generator gen(12);
  for (int64_t in : {128, 50}) {  // whole groups, and a padded last group
    QuantSpec spec{4, in == 128 ? 64 : 16, false};
    CAPTURE(in);
    Tensor w = e::randn({24, in}, gen);
    GroupParams grid = minmax_params(w, spec);
    // alpha spread around 1 so that some codes clamp at both ends.
    Tensor a0 = e::rand({24, spec.groups(in)}, gen, e::DType::f32, 0.7, 1.3);
    Tensor dy = e::randn({24, in}, gen);
    auto run = [&](bool fused, bool with_alpha) {
      ag::Var wv(w.clone(), true), alpha(a0.clone(), true);
      const ag::Var a = with_alpha ? alpha : ag::Var();
      ag::Var out = fused ? fake_quantize_grid(wv, grid, a, spec) : fake_quantize_grid_composite(wv, grid, a, spec);
      ag::sum(out * ag::Var(dy)).backward();
      return std::tuple{out.data(), wv.grad(), with_alpha ? alpha.grad() : Tensor()};
    };
    for (bool with_alpha : {true, false}) {
      CAPTURE(with_alpha);
      auto [y1, dw1, da1] = run(true, with_alpha);
      auto [y0, dw0, da0] = run(false, with_alpha);
      CHECK(e::equal(y1, y0));
      QS_CHECK_CLOSE(dw1, dw0, 1e-6);
      if (with_alpha) {
        QS_CHECK_CLOSE(da1, da0, 1e-4);
        CHECK(e::max(e::abs(da1)).item<double>() > 0);
      }
    }
  }
  Tensor w = e::randn({4, 64}, gen);
  GroupParams grid = minmax_params(w, QuantSpec{4, 32, false});
  CHECK_THROWS_WITH_AS(e::fake_quantize_grid(w, grid.scale, grid.zero, Tensor(), 15, 16),
                       doctest::Contains("fake_quantize_grid: scale, zero and alpha must be f32 (4, 4)"), qs::Error);
}
