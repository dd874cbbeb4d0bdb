// Fused attention (no score matrix) against the unfused composition, and its
// gradients by finite differences.
#include <cmath>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "support.h"

using namespace qs::engine;
namespace ag = qs::autograd;
using ag::Var;

namespace {

Tensor rnd(const Shape& s, uint64_t seed, DType dt = DType::f64) {
  Generator g(seed);
  return randn(s, g, dt);
}

// The unfused reference: scores, the same mask, softmax, weighted sum.
Var unfused(const Var& q, const Var& k, const Var& v, double scale, bool causal, const Tensor& pad) {
  const int64_t b = q.size(0), t = q.size(2), s = k.size(2);
  Var scores = ag::mul(ag::matmul(q, ag::transpose(k, -1, -2)), scale);
  Tensor mask;
  if (causal) mask = gt(arange(0, s).view({1, s}), arange(0, t).view({t, 1}) + (s - t));
  if (pad.defined()) {
    Tensor p = pad.view({b, 1, 1, s});
    mask = mask.defined() ? maximum(mask, p) : p;
  }
  if (mask.defined()) scores = ag::masked_fill(scores, mask, -INFINITY);
  return ag::matmul(ag::softmax(scores), v);
}

}  // namespace

TEST_CASE("fused attention equals the unfused ops: causal, padded, T < S, rows that see nothing") {
  struct Case {
    int64_t t, s;
    bool causal, padded;
  };
  for (Case c : {Case{5, 5, true, false}, Case{3, 7, true, true}, Case{4, 6, false, true}, Case{6, 6, false, false}}) {
    Tensor q = rnd({2, 3, c.t, 8}, 1), k = rnd({2, 3, c.s, 8}, 2), v = rnd({2, 3, c.s, 8}, 3);
    Tensor pad;
    if (c.padded) {
      std::vector<uint8_t> p(2 * c.s, 0);
      for (int64_t j = 0; j < c.s; ++j) p[c.s + j] = 1;  // sample 1: every key padded
      p[c.s - 1] = 1;
      pad = from_vector(p, {2, c.s});
    }
    INFO("T ", c.t, " S ", c.s, " causal ", c.causal, " padded ", c.padded);
    AttentionForward f = attention_forward(q, k, v, 0.35, c.causal, pad);
    QS_CHECK_CLOSE(f.out, unfused(Var(q), Var(k), Var(v), 0.35, c.causal, pad).data(), 1e-12);
    if (c.padded) {  // sample 1 sees no key: zeros out, -inf log-sum-exp
      CHECK(max(abs(f.out.select(0, 1))).item<double>() == 0.0);
      CHECK(element_as_double(f.lse, f.lse.numel() - 1) == -INFINITY);
    }
  }
}

TEST_CASE("fused attention gradients match the unfused ones and finite differences") {
  Tensor q = rnd({1, 2, 4, 6}, 4), k = rnd({1, 2, 5, 6}, 5), v = rnd({1, 2, 5, 6}, 6);
  Tensor pad = from_vector<uint8_t>({0, 0, 1, 0, 0}, {1, 5});
  auto fused = [&](const std::vector<Var>& in) {
    return ag::sum(ag::mul(ag::attention(in[0], in[1], in[2], 0.4, true, pad), ag::attention(in[0], in[1], in[2], 0.4, true, pad)));
  };
  ag::GradcheckResult r = ag::gradcheck(fused, {q, k, v});
  INFO(r.message);
  CHECK(r.ok);
  Var a(q, true), b(k, true), c(v, true), a2(q, true), b2(k, true), c2(v, true);
  Tensor w = rnd({1, 2, 4, 6}, 7);
  ag::sum(ag::mul(ag::attention(a, b, c, 0.4, true, pad), Var(w))).backward();
  ag::sum(ag::mul(unfused(a2, b2, c2, 0.4, true, pad), Var(w))).backward();
  QS_CHECK_CLOSE(a.grad(), a2.grad(), 1e-10);
  QS_CHECK_CLOSE(b.grad(), b2.grad(), 1e-10);
  QS_CHECK_CLOSE(c.grad(), c2.grad(), 1e-10);
}

TEST_CASE("grouped-query attention: each key/value head serves its group of query heads, gradients summed") {
  // 6 query heads over 2 key/value heads: query head h reads kv head h / 3.
  Tensor q = rnd({2, 6, 4, 4}, 20), k = rnd({2, 2, 5, 4}, 21), v = rnd({2, 2, 5, 4}, 22);
  Tensor k_full = ag::repeat_kv(Var(k), 6).data();
  CHECK(k_full.shape() == Shape{2, 6, 5, 4});
  for (int64_t h = 0; h < 6; ++h) CHECK(equal(k_full.select(1, h), k.select(1, h / 3)));
  Tensor pad = from_vector<uint8_t>({0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, {2, 5});
  QS_CHECK_CLOSE(ag::attention(Var(q), Var(k), Var(v), 0.5, true, pad).data(),
                 unfused(Var(q), Var(k_full), ag::repeat_kv(Var(v), 6), 0.5, true, pad).data(), 1e-12);
  auto grouped = [&](const std::vector<Var>& in) {
    Var o = ag::attention(in[0], in[1], in[2], 0.5, true, pad);
    return ag::sum(ag::mul(o, o));
  };
  ag::GradcheckResult r = ag::gradcheck(grouped, {q, k, v});
  INFO(r.message);
  CHECK(r.ok);
  CHECK(qs::test::has(qs::test::error_of([&] { ag::attention(Var(q), Var(rnd({2, 4, 5, 4}, 23)), Var(rnd({2, 4, 5, 4}, 24)), 1.0, false); }),
                      "4 key/value heads cannot serve 6 query heads"));
}

TEST_CASE("fused attention names mis-shaped inputs and padding") {
  Tensor q = rnd({1, 2, 4, 6}, 8), k = rnd({1, 2, 5, 6}, 9);
  CHECK(qs::test::has(qs::test::error_of([&] { attention_forward(q, k, rnd({1, 2, 4, 6}, 10), 1.0, false); }),
                      "expected q (B, H, T, d)"));
  CHECK(qs::test::has(qs::test::error_of([&] { attention_forward(q, k, k, 1.0, false, zeros({1, 4}, DType::u8)); }),
                      "key_padding must be u8 (B, S) = (1, 5)"));
}

TEST_CASE("swiglu equals silu(gate) * up, and its fused gradient passes gradcheck") {
  Tensor g = rnd({3, 7}, 11), u = rnd({3, 7}, 12);
  QS_CHECK_CLOSE(swiglu(g, u), silu(g) * u, 1e-15);
  ag::GradcheckResult r = ag::gradcheck([](const std::vector<Var>& in) { return ag::sum(ag::mul(ag::swiglu(in[0], in[1]), in[0])); },
                                        {g, u.t().contiguous().t()});
  INFO(r.message);
  CHECK(r.ok);
  CHECK(qs::test::has(qs::test::error_of([&] { swiglu(g, rnd({7, 3}, 13)); }), "must match"));
}
