// GEMM through Eigen. Operands are read in place whether row-major or
// transposed (column-major) views, so x.t() costs no copy; Eigen's blocked
// kernels use AVX-512/AVX2 FMA and OpenMP threads.
#include <Eigen/Core>

#include <optional>

#include "engine/cpu/kernels.h"
#include "engine/cpu/loops.h"

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

void matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out) {
  dispatch_floating("matmul", a_in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t batch = out.size(0), m = out.size(1), n = out.size(2), k = a_in.size(2);
    if (k == 0) {
      fill(out, 0.0);
      return;
    }
    // Operands whose last two dims are neither row- nor column-major get copied.
    auto prepare = [](const Tensor& t) {
      return layout_of(t.size(1), t.size(2), t.strides()[1], t.strides()[2]) ? t
                                                                                : t.contiguous();
    };
    Tensor a = prepare(a_in), b = prepare(b_in);
    Layout la = *layout_of(m, k, a.strides()[1], a.strides()[2]);
    Layout lb = *layout_of(k, n, b.strides()[1], b.strides()[2]);
    const T* ap = a.data<T>();
    const T* bp = b.data<T>();
    T* cp = out.data<T>();
    const int64_t as = a.strides()[0], bs = b.strides()[0];
    if (batch == 1) {
      gemm<T>(ap, la, bp, lb, cp, m, k, n);  // Eigen threads inside the GEMM
      return;
    }
    // Many small GEMMs: one per thread (Eigen then runs each single-threaded).
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < batch; ++i) {
      gemm<T>(ap + i * as, la, bp + i * bs, lb, cp + i * m * n, m, k, n);
    }
  });
}

}  // namespace qs::engine::cpu
