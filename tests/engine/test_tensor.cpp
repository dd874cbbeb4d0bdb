#include "support.h"

using namespace qs::engine;
using qs::test::make;
using qs::test::values;

TEST_CASE("a new tensor is contiguous with row-major strides") {
  Tensor t({2, 3, 4}, DType::f32);
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.strides() == Shape{12, 4, 1});
  CHECK(t.numel() == 24);
  CHECK(t.is_contiguous());
  CHECK(t.device().is_cpu());
  CHECK(t.size(-1) == 4);
}

TEST_CASE("views share storage with their base") {
  Tensor base = arange(0, 12, 1, DType::f32).view({3, 4});
  Tensor tr = base.t();
  CHECK(tr.shape() == Shape{4, 3});
  CHECK(!tr.is_contiguous());
  CHECK(tr.storage() == base.storage());
  CHECK(element_as_double(tr, 1) == 4.0);  // tr[0][1] = base[1][0]

  Tensor row = base.select(0, 1);
  CHECK(values(row) == std::vector<double>{4, 5, 6, 7});
  fill_(row, -1.0);
  CHECK(values(base.slice(0, 1, 2)) == std::vector<double>{-1, -1, -1, -1});

  Tensor col = base.slice(1, 1, 4, 2);  // columns 1 and 3
  CHECK(col.shape() == Shape{3, 2});
  CHECK(values(col) == std::vector<double>{1, 3, -1, -1, 9, 11});
}

TEST_CASE("permute, unsqueeze, squeeze and expand") {
  Tensor x = arange(0, 24, 1, DType::f32).view({2, 3, 4});
  Tensor p = x.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(element_as_double(p, 1) == 4.0);  // p[0][0][1] = x[0][1][0]
  CHECK(x.unsqueeze(1).shape() == Shape{2, 1, 3, 4});
  CHECK(x.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  CHECK(x.unsqueeze(1).squeeze(1).shape() == x.shape());

  Tensor v = make({1, 2, 3}, {3, 1});
  Tensor e = v.expand({2, 3, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.strides()[0] == 0);
  CHECK(e.strides()[2] == 0);
  CHECK(e.storage() == v.storage());
  CHECK(values(e.contiguous()) == std::vector<double>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                                     1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
}

TEST_CASE("reshape views contiguous tensors and copies others") {
  Tensor x = arange(0, 6, 1, DType::f32).view({2, 3});
  Tensor r = x.reshape({3, -1});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.storage() == x.storage());
  Tensor rt = x.t().reshape({6});
  CHECK(rt.storage() != x.storage());
  CHECK(values(rt) == std::vector<double>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("contiguous copies only when needed - clone always copies") {
  Tensor x = arange(0, 6, 1, DType::f32).view({2, 3});
  CHECK(x.contiguous().storage() == x.storage());
  CHECK(x.clone().storage() != x.storage());
  Tensor c = x.t().contiguous();
  CHECK(c.is_contiguous());
  CHECK(values(c) == std::vector<double>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("dtype conversions") {
  Tensor x = make({-1.5, 0.25, 2.75, 300}, {4});
  CHECK(values(x.to(DType::f64)) == std::vector<double>{-1.5, 0.25, 2.75, 300});
  CHECK(values(x.to(DType::i32)) == std::vector<double>{-1, 0, 2, 300});
  CHECK(values(x.to(DType::i64)) == std::vector<double>{-1, 0, 2, 300});
  CHECK(values(make({0, 7, 255}, {3}).to(DType::u8)) == std::vector<double>{0, 7, 255});
  // bf16 keeps 8 significant bits, f16 11: these values are exact in both.
  CHECK(values(x.to(DType::bf16).to(DType::f32)) == std::vector<double>{-1.5, 0.25, 2.75, 300});
  CHECK(values(x.to(DType::f16).to(DType::f32)) == std::vector<double>{-1.5, 0.25, 2.75, 300});
  // Rounding: 1 + 2^-9 is not representable in bf16 and rounds to even (1.0).
  CHECK(from_bf16(to_bf16(1.0f + 0x1.0p-9f)) == 1.0f);
  CHECK(from_f16(to_f16(65504.0f)) == 65504.0f);
  CHECK(std::isinf(from_f16(to_f16(1e6f))));
  CHECK(from_f16(to_f16(0x1.0p-24f)) == 0x1.0p-24f);  // smallest subnormal
}

TEST_CASE("factories") {
  CHECK(values(zeros({2, 2})) == std::vector<double>{0, 0, 0, 0});
  CHECK(values(ones({3}, DType::i64)) == std::vector<double>{1, 1, 1});
  CHECK(values(full({2}, 2.5, DType::f64)) == std::vector<double>{2.5, 2.5});
  CHECK(values(arange(1, 2, 0.25, DType::f32)) == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(arange(0, 5).dtype() == DType::i64);
  CHECK(scalar(3.0).dim() == 0);
  CHECK(scalar(3.0).item<double>() == 3.0);
  Tensor v = from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(v.dtype() == DType::i32);
  CHECK(to_vector<int32_t>(v) == std::vector<int32_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("printing shows shape, dtype, device and values") {
  Tensor x = make({1, 2.5, -3}, {1, 3});
  std::string s = x.str();
  CHECK(s.find("shape=[1, 3]") != std::string::npos);
  CHECK(s.find("dtype=f32") != std::string::npos);
  CHECK(s.find("device=cpu") != std::string::npos);
  CHECK(s.find("2.5") != std::string::npos);
  CHECK(arange(0, 100).str().find("...") != std::string::npos);
  CHECK(describe(x) == "f32[1, 3]");
}

TEST_CASE("copy_ broadcasts and converts") {
  Tensor dst = zeros({2, 3}, DType::f64);
  copy_(dst, make({1, 2, 3}, {3}));
  CHECK(values(dst) == std::vector<double>{1, 2, 3, 1, 2, 3});
  copy_(dst.t(), make({7, 8}, {1, 2}, DType::i32).expand({3, 2}));
  CHECK(values(dst) == std::vector<double>{7, 7, 7, 8, 8, 8});
}

TEST_CASE("allclose and equal") {
  Tensor a = make({1, 2, 3}, {3});
  CHECK(allclose(a, make({1, 2, 3.000001}, {3})));
  CHECK(!allclose(a, make({1, 2, 3.1}, {3})));
  CHECK(!allclose(a, make({1, 2}, {2})));
  CHECK(equal(a, a.clone()));
  CHECK(!equal(a, a.to(DType::f64)));
  CHECK(max_abs_diff(a, make({1, 2.5, 3}, {3})) == doctest::Approx(0.5));
}
