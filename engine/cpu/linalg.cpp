// Matmul kernels: f32 goes through our packed AVX-512 GEMM (cpu/sgemm.cpp)
// when it is compiled in and the product is large enough; f64, small
// products and builds without AVX-512 go through Eigen, which reads row- or
// column-major (transposed) operands in place.
#include <Eigen/Core>

#include <optional>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/sgemm.h"

namespace qs::engine::cpu {

namespace {

template <class T, int Order>
using MatMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, 0,
                          Eigen::OuterStride<>>;
template <class T>
using OutMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// How a 2-D operand sits in memory: row-major (unit column stride) or
// column-major (unit row stride, a transposed view), with its leading dimension.
struct Layout {
  bool row_major;
  int64_t ld;
};

std::optional<Layout> layout_of(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if ((cs == 1 || cols == 1) && rs >= std::max<int64_t>(cols, 1)) return Layout{true, rs};
  if ((rs == 1 || rows == 1) && cs >= std::max<int64_t>(rows, 1)) return Layout{false, cs};
  return std::nullopt;
}

template <class T>
void gemm(const T* a, Layout la, const T* b, Layout lb, T* c, int64_t m, int64_t k, int64_t n) {
  OutMap<T> C(c, m, n);
  auto run = [&](const auto& A) {
    if (lb.row_major) {
      C.noalias() = A * MatMap<T, Eigen::RowMajor>(b, k, n, Eigen::OuterStride<>(lb.ld));
    } else {
      C.noalias() = A * MatMap<T, Eigen::ColMajor>(b, k, n, Eigen::OuterStride<>(lb.ld));
    }
  };
  if (la.row_major) {
    run(MatMap<T, Eigen::RowMajor>(a, m, k, Eigen::OuterStride<>(la.ld)));
  } else {
    run(MatMap<T, Eigen::ColMajor>(a, m, k, Eigen::OuterStride<>(la.ld)));
  }
}

}  // namespace

// Below this many multiply-adds a GEMM is too small for packing to pay off.
constexpr int64_t kPackedMinWork = 32 * 32 * 32;
constexpr int64_t kPackedMinRows = 8;

void matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out) {
  const int64_t batch = out.size(0), m = out.size(1), n = out.size(2), k = a_in.size(2);
  if (k == 0) {
    fill(out, 0.0);
    return;
  }
  // Matrix-vector shapes (a few rows or columns) are memory bound: packing
  // would copy the whole matrix for nothing, so Eigen's GEMV takes them.
  const bool packed = a_in.dtype() == DType::f32 && sgemm::available() && m * n * k >= kPackedMinWork &&
                      std::min(m, n) >= kPackedMinRows;
  // Many GEMMs: one per thread. Few large ones: each uses all threads.
  // Not `parallel for if (across_batch)`: a parallel region inside even an
  // inactive one is nested, and libgomp creates (and ends) a new thread for
  // every nested team, ~0.2-3 ms per product on 2 cores.
  const bool across_batch = batch > 1 && (batch >= 2 * omp_get_max_threads() || m * n * k < (1 << 21));
  auto for_each_matrix = [&](auto&& one) {
    if (across_batch) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < batch; ++i) one(i);
    } else {
      for (int64_t i = 0; i < batch; ++i) one(i);
    }
  };
  if (packed) {
    // The packed GEMM reads any strides, so no operand is copied.
    const float* ap = a_in.data<float>();
    const float* bp = b_in.data<float>();
    float* cp = out.data<float>();
    const Shape& sa = a_in.strides();
    const Shape& sb = b_in.strides();
    for_each_matrix([&](int64_t i) {
      sgemm::gemm(m, n, k, ap + i * sa[0], sa[1], sa[2], bp + i * sb[0], sb[1], sb[2], cp + i * m * n, n);
    });
    return;
  }
  dispatch_floating("matmul", a_in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Eigen reads row- or column-major operands in place; others get copied.
    auto prepare = [](const Tensor& t) {
      return layout_of(t.size(1), t.size(2), t.strides()[1], t.strides()[2]) ? t : t.contiguous();
    };
    Tensor a = prepare(a_in), b = prepare(b_in);
    Layout la = *layout_of(m, k, a.strides()[1], a.strides()[2]);
    Layout lb = *layout_of(k, n, b.strides()[1], b.strides()[2]);
    const T* ap = a.data<T>();
    const T* bp = b.data<T>();
    T* cp = out.data<T>();
    const int64_t as = a.strides()[0], bs = b.strides()[0];
    for_each_matrix([&](int64_t i) { gemm<T>(ap + i * as, la, bp + i * bs, lb, cp + i * m * n, m, k, n); });
  });
}

void matmul_reference(const Tensor& a, const Tensor& b, const Tensor& out) {
  QS_CHECK(a.dtype() == DType::f32 || a.dtype() == DType::f64, "matmul_reference: f32 or f64 only");
  dispatch_floating("matmul_reference", a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    Tensor ac = a.contiguous(), bc = b.contiguous();
    const int64_t batch = out.size(0), m = out.size(1), n = out.size(2), k = a.size(2);
    for (int64_t i = 0; i < batch; ++i) {
      gemm<T>(ac.data<T>() + i * ac.strides()[0], Layout{true, k}, bc.data<T>() + i * bc.strides()[0],
              Layout{true, n}, out.data<T>() + i * m * n, m, k, n);
    }
  });
}

}  // namespace qs::engine::cpu
