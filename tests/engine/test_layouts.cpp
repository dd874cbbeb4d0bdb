// Heads split from a (B, T, H * d) projection by a transpose: rope and
// attention read them in place and write their outputs in the same layout,
// with results identical to those of contiguous operands.
#include "engine/ops.h"
#include "engine/profiler.h"
#include "support.h"

using namespace qs::engine;

namespace {

// (B, T, H, d) memory seen as (B, H, T, d).
Tensor heads_view(const Shape& bthd, Generator& gen, DType dtype) {
  return randn(bthd, gen, dtype).transpose(1, 2);
}

int64_t copies() {
  int64_t n = 0;
  for (const auto& e : profiler::entries()) n += e.name == "copy_" ? e.calls : 0;
  return n;
}

}  // namespace

TEST_CASE("empty_like_layout keeps a transposed dense layout and makes anything else contiguous") {
  Tensor x = zeros({2, 5, 3, 4}).transpose(1, 2);
  Tensor y = empty_like_layout(x);
  CHECK(y.shape() == x.shape());
  CHECK(y.strides() == x.strides());
  CHECK(y.storage() != x.storage());
  Tensor sliced = zeros({2, 5, 3, 8}).slice(3, 0, 4);  // rows with gaps: not dense
  CHECK(empty_like_layout(sliced).is_contiguous());
  CHECK(empty_like_layout(zeros({3, 4})).is_contiguous());
}

TEST_CASE("rope and attention on transposed heads equal the contiguous results, with no copies") {
  for (DType dtype : {DType::f32, DType::f64}) {  // the f32 GEMM kernels and the double reference
    INFO(dtype_name(dtype));
    Generator gen(11);
    const int64_t b = 2, t = 70, h = 3, d = 8;
    Tensor q = heads_view({b, t, h, d}, gen, dtype), k = heads_view({b, t, h, d}, gen, dtype),
           v = heads_view({b, t, h, d}, gen, dtype), dout = heads_view({b, t, h, d}, gen, dtype);
    REQUIRE(!q.is_contiguous());
    Tensor pos = arange(0, t);
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-12;

    profiler::reset();
    profiler::enable(true);
    Tensor qr = rope(q, pos, 10000.0), kr = rope(k, pos, 10000.0);
    AttentionForward f = attention_forward(qr, kr, v, 0.3, true);
    AttentionGrads g = attention_backward(dout, qr, kr, v, f, 0.3, true);
    Tensor dq = rope(g.dq, pos, 10000.0, true);
    profiler::enable(false);
    CHECK(copies() == 0);
    profiler::reset();
    // Outputs keep the operands' layout: transposing back is contiguous.
    CHECK(qr.transpose(1, 2).is_contiguous());
    CHECK(f.out.transpose(1, 2).is_contiguous());
    CHECK(dq.transpose(1, 2).is_contiguous());
    CHECK(g.dk.transpose(1, 2).is_contiguous());
    CHECK(g.dv.transpose(1, 2).is_contiguous());

    Tensor qc = rope(q.contiguous(), pos, 10000.0), kc = rope(k.contiguous(), pos, 10000.0);
    AttentionForward fc = attention_forward(qc, kc, v.contiguous(), 0.3, true);
    AttentionGrads gc = attention_backward(dout.contiguous(), qc, kc, v.contiguous(), fc, 0.3, true);
    QS_CHECK_CLOSE(qr, qc, tol);
    QS_CHECK_CLOSE(f.out, fc.out, tol);
    QS_CHECK_CLOSE(f.lse, fc.lse, tol);
    QS_CHECK_CLOSE(g.dq, gc.dq, tol);
    QS_CHECK_CLOSE(g.dk, gc.dk, tol);
    QS_CHECK_CLOSE(g.dv, gc.dv, tol);
    QS_CHECK_CLOSE(dq, rope(gc.dq, pos, 10000.0, true), tol);
  }
}
