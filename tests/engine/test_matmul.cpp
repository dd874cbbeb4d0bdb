#include <omp.h>

#include <array>

#include "engine/cpu/kernels.h"
#include "engine/cpu/sgemm.h"
#include "support.h"

using namespace qs::engine;
using qs::test::make;
using qs::test::values;

namespace {
// Reference: a triple loop over logical elements, in double.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  std::vector<double> out(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p)
        out[i * n + j] += element_as_double(a, i * k + p) * element_as_double(b, p * n + j);
  return make(out, {m, n}, DType::f64);
}
}  // namespace

TEST_CASE("matmul of small hand-computed matrices") {
  Tensor a = make({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = make({7, 8, 9, 10, 11, 12}, {3, 2});
  CHECK(values(matmul(a, b)) == std::vector<double>{58, 64, 139, 154});
}

TEST_CASE("matmul reads transposed operands in place, in every combination") {
  Generator g(11);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = randn({37, 19}, g, dt), b = randn({19, 23}, g, dt);
    Tensor at = randn({19, 37}, g, dt), bt = randn({23, 19}, g, dt);
    const double tol = dt == DType::f32 ? 1e-4 : 1e-10;
    QS_CHECK_CLOSE(matmul(a, b), naive_matmul(a, b), tol);
    QS_CHECK_CLOSE(matmul(at.t(), b), naive_matmul(at.t(), b), tol);
    QS_CHECK_CLOSE(matmul(a, bt.t()), naive_matmul(a, bt.t()), tol);
    QS_CHECK_CLOSE(matmul(at.t(), bt.t()), naive_matmul(at.t(), bt.t()), tol);
  }
}

TEST_CASE("matmul copies operands that are neither row- nor column-major") {
  Generator g(12);
  Tensor big = randn({8, 12}, g);
  Tensor a = big.slice(1, 0, 12, 2);  // (8, 6), column stride 2
  Tensor b = randn({6, 5}, g);
  QS_CHECK_CLOSE(matmul(a, b), naive_matmul(a, b), 1e-4);
}

TEST_CASE("batched matmul broadcasts batch dims") {
  Generator g(13);
  Tensor a = randn({2, 3, 4, 5}, g);
  Tensor b = randn({3, 5, 6}, g);  // broadcast over the leading 2
  Tensor c = matmul(a, b);
  CHECK(c.shape() == Shape{2, 3, 4, 6});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      QS_CHECK_CLOSE(c.select(0, i).select(0, j), naive_matmul(a.select(0, i).select(0, j), b.select(0, j)), 1e-4);
  // (B, T, K) @ (K, N): rows stacked into one GEMM.
  Tensor w = randn({5, 7}, g);
  Tensor y = matmul(a, w);
  CHECK(y.shape() == Shape{2, 3, 4, 7});
  QS_CHECK_CLOSE(y.select(0, 1).select(0, 2), naive_matmul(a.select(0, 1).select(0, 2), w), 1e-4);
  // Attention-style: q @ k^T over (B, H) batches with a transposed view.
  Tensor q = randn({2, 3, 4, 5}, g), k = randn({2, 3, 6, 5}, g);
  Tensor s = matmul(q, k.transpose(-1, -2));
  QS_CHECK_CLOSE(s.select(0, 1).select(0, 0),
                 naive_matmul(q.select(0, 1).select(0, 0), k.select(0, 1).select(0, 0).t()), 1e-4);
}

TEST_CASE("matmul with an empty inner dim gives zeros") {
  Tensor c = matmul(zeros({3, 0}), zeros({0, 2}));
  CHECK(values(c) == std::vector<double>(6, 0.0));
}

TEST_CASE("matmul of large matrices agrees with the reference on sampled entries") {
  Generator g(14);
  Tensor a = randn({256, 300}, g), b = randn({300, 200}, g);
  Tensor c = matmul(a, b.contiguous());
  Tensor ref = matmul(a.to(DType::f64), b.to(DType::f64));
  QS_CHECK_CLOSE(c, ref, 1e-3);
}

TEST_CASE("the packed f32 GEMM matches the Eigen reference on awkward shapes and layouts") {
  Generator g(15);
  // Edges in every loop: m not a multiple of the micro-tile, k over several
  // depth panels, n over several B panels; short-wide C splits by columns.
  const std::vector<std::array<int64_t, 3>> shapes{
      {45, 800, 3100}, {131, 385, 97}, {20, 300, 2000}, {2048, 64, 33}, {9, 1024, 1024}, {1, 512, 300}};
  for (auto [m, k, n] : shapes) {
    CAPTURE(m);
    CAPTURE(k);
    CAPTURE(n);
    Tensor a = randn({m, k}, g), b = randn({k, n}, g);
    Tensor ref({1, m, n}, DType::f32);
    cpu::matmul_reference(a.unsqueeze(0), b.unsqueeze(0), ref);
    const double tol = 2e-3;
    QS_CHECK_CLOSE(matmul(a, b), ref.squeeze(0), tol);
    QS_CHECK_CLOSE(matmul(a.t().contiguous().t(), b), ref.squeeze(0), tol);
    QS_CHECK_CLOSE(matmul(a, b.t().contiguous().t()), ref.squeeze(0), tol);
    // Neither row- nor column-major: every other column of a wider tensor.
    Tensor wide = randn({m, 2 * k}, g);
    Tensor a_strided = wide.slice(1, 0, 2 * k, 2);
    Tensor ref2({1, m, n}, DType::f32);
    cpu::matmul_reference(a_strided.unsqueeze(0), b.unsqueeze(0), ref2);
    QS_CHECK_CLOSE(matmul(a_strided, b), ref2.squeeze(0), tol);
  }
}

TEST_CASE("the unpacked small GEMM matches a double loop: every row count of a tile, masked columns, A read transposed, accumulation") {
  Generator g(17);
  // m over 1..14-row tiles and beyond, n with a masked right edge (< 16, 16-32,
  // several 32-wide columns), k from 1 to attention's key counts.
  for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {14, 32, 32}, {15, 17, 8}, {64, 128, 32}, {65, 65, 32}, {29, 40, 130}, {7, 5, 3}}) {
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    // B inside a wider tensor (ldb > n), C likewise (ldc > n).
    Tensor a = randn({m, k}, g), b_wide = randn({k, n + 3}, g), c0 = randn({m, n + 5}, g);
    Tensor b = b_wide.slice(1, 0, n);
    Tensor want = naive_matmul(a, b.contiguous());
    Tensor c = c0.clone();
    cpu::sgemm::gemm_small(m, n, k, a.data<float>(), k, 1, b_wide.data<float>(), n + 3, c.data<float>(), n + 5, false);
    QS_CHECK_CLOSE(c.slice(1, 0, n).to(DType::f64), want, 1e-4);
    CHECK(equal(c.slice(1, n, n + 5), c0.slice(1, n, n + 5)));  // columns past n untouched
    // A stored transposed (rsa = 1, csa = m), accumulated onto what C held.
    Tensor at = a.t().contiguous();
    c = c0.clone();
    cpu::sgemm::gemm_small(m, n, k, at.data<float>(), 1, m, b_wide.data<float>(), n + 3, c.data<float>(), n + 5, true);
    QS_CHECK_CLOSE(c.slice(1, 0, n).to(DType::f64), add(want, c0.slice(1, 0, n).to(DType::f64)), 1e-4);
  }
}

TEST_CASE("the packed GEMM gives the same result on 1 and 2 threads") {
  Generator g(16);
  Tensor a = randn({300, 500}, g), b = randn({500, 400}, g);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Tensor one = matmul(a, b);
  omp_set_num_threads(2);
  Tensor two = matmul(a, b);
  omp_set_num_threads(threads);
  CHECK(equal(one, two));
}
