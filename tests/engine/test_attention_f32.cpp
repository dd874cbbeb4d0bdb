// The f32 attention kernels (a tile of queries at a time through the packed
// GEMM) against the double-precision row loop they replace in training.
#include <cmath>

#include "engine/cpu/kernels.h"
#include "engine/cpu/sgemm.h"
#include "support.h"

using namespace qs::engine;

namespace {

struct Case {
  int64_t t, s;
  bool causal, padded;
  int64_t d = 16;  // 40: K^T and V^T built from 16 x 16 blocks and a ragged edge both ways
};

Tensor rnd(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return randn(shape, g, DType::f32);
}

// Sample 0 pads its last key; sample 1 pads every key (its rows see nothing).
Tensor padding(int64_t s) {
  std::vector<uint8_t> p(2 * s, 0);
  p[s - 1] = 1;
  for (int64_t j = 0; j < s; ++j) p[s + j] = 1;
  return from_vector(p, {2, s});
}

}  // namespace

TEST_CASE("f32 GEMM attention equals the double row loop: causal, padded, T < S, tiles that do not divide T") {
  if (!cpu::sgemm::available()) return;  // the dispatcher then uses the reference itself
  // T = 150 spans three 64-query tiles, the last one partial; T < S is a KV cache.
  for (Case c : {Case{150, 150, true, false}, Case{70, 130, true, true}, Case{65, 40, false, true},
                 Case{5, 5, false, false}, Case{1, 9, true, false}, Case{33, 50, true, true, 40}}) {
    INFO("T ", c.t, " S ", c.s, " causal ", c.causal, " padded ", c.padded, " d ", c.d);
    const int64_t b = 2, h = 3, d = c.d;
    Tensor q = rnd({b, h, c.t, d}, 1), k = rnd({b, h, c.s, d}, 2), v = rnd({b, h, c.s, d}, 3);
    Tensor dout = rnd({b, h, c.t, d}, 4);
    Tensor pad = c.padded ? padding(c.s) : Tensor();
    const double scale = 0.25;
    Tensor out({b, h, c.t, d}, DType::f32), lse({b, h, c.t}, DType::f32);
    cpu::attention_forward_f32(q, k, v, h, c.t, c.s, scale, c.causal, pad, out, lse);
    Tensor q64 = q.to(DType::f64), k64 = k.to(DType::f64), v64 = v.to(DType::f64);
    Tensor ref_out({b, h, c.t, d}, DType::f64), ref_lse({b, h, c.t}, DType::f64);
    cpu::attention_forward_reference(q64, k64, v64, h, c.t, c.s, scale, c.causal, pad, ref_out, ref_lse);
    QS_CHECK_CLOSE(out, ref_out, 1e-5);
    // -inf where a row sees no key, as in the reference.
    const auto got = to_vector<double>(lse.to(DType::f64)), want = to_vector<double>(ref_lse);
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (std::isinf(want[i])) {
        CHECK(got[i] == want[i]);
      } else {
        CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
      }
    }
    Tensor dq(q.shape(), DType::f32), dk(k.shape(), DType::f32), dv(v.shape(), DType::f32);
    cpu::attention_backward_f32(dout, q, k, v, out, lse, h, c.t, c.s, scale, c.causal, pad, dq, dk, dv);
    Tensor rq(q.shape(), DType::f64), rk(k.shape(), DType::f64), rv(v.shape(), DType::f64);
    cpu::attention_backward_reference(dout.to(DType::f64), q64, k64, v64, ref_out, ref_lse, h, c.t, c.s, scale,
                                      c.causal, pad, rq, rk, rv);
    QS_CHECK_CLOSE(dq, rq, 1e-4);
    QS_CHECK_CLOSE(dk, rk, 1e-4);
    QS_CHECK_CLOSE(dv, rv, 1e-4);
  }
}

TEST_CASE("engine::attention_forward on f32 takes the GEMM kernel and matches f64 through the same op") {
  Tensor q = rnd({2, 2, 100, 8}, 5), k = rnd({2, 2, 100, 8}, 6), v = rnd({2, 2, 100, 8}, 7);
  AttentionForward f32 = attention_forward(q, k, v, 0.3, true);
  AttentionForward f64 = attention_forward(q.to(DType::f64), k.to(DType::f64), v.to(DType::f64), 0.3, true);
  QS_CHECK_CLOSE(f32.out, f64.out, 1e-5);
  Tensor g = rnd({2, 2, 100, 8}, 8);
  AttentionGrads a = attention_backward(g, q, k, v, f32, 0.3, true);
  AttentionGrads r = attention_backward(g.to(DType::f64), q.to(DType::f64), k.to(DType::f64), v.to(DType::f64), f64, 0.3, true);
  QS_CHECK_CLOSE(a.dq, r.dq, 1e-4);
  QS_CHECK_CLOSE(a.dk, r.dk, 1e-4);
  QS_CHECK_CLOSE(a.dv, r.dv, 1e-4);
}
