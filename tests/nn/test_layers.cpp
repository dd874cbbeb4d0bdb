#include <cmath>

#include "autograd/checkpoint.h"
#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "engine/cpu/host_allocator.h"
#include "nn/transformer_block.h"
#include "support.h"

using namespace qs::nn;
namespace ag = qs::autograd;
namespace e = qs::engine;
using qs::test::make;

namespace {
void expect_ok(const ag::GradcheckResult& r) {
  INFO(r.message);
  CHECK(r.ok);
}
}  // namespace

TEST_CASE("Linear computes x W^T + b") {
  e::Generator gen(1);
  Linear lin(3, 2, true, gen, 0.02);
  lin.weight.set_data(make({1, 2, 3, 4, 5, 6}, {2, 3}));
  lin.bias.set_data(make({10, 20}, {2}));
  Var y = lin.forward(Var(make({1, 1, 1, 0, 1, 0}, {2, 3})));
  CHECK(qs::test::values(y.data()) == std::vector<double>{16, 35, 12, 25});
}

TEST_CASE("gradcheck: Linear, RMSNorm, LayerNorm, SwiGLU and GELU MLP with their parameters") {
  e::Generator gen(3);
  InitConfig init{0.3};
  Linear lin(4, 3, true, gen, 0.5);
  lin.to(DType::f64);
  expect_ok(ag::gradcheck([&](auto v) { return lin.forward(v[0]); }, {e::randn({2, 5, 4}, gen, DType::f64)}, lin.parameters()));
  RMSNorm rms(6);
  rms.to(DType::f64);
  rms.weight.set_data(e::randn({6}, gen, DType::f64));
  expect_ok(ag::gradcheck([&](auto v) { return rms.forward(v[0]); }, {e::randn({3, 6}, gen, DType::f64)}, rms.parameters()));
  LayerNorm ln(6);
  ln.to(DType::f64);
  expect_ok(ag::gradcheck([&](auto v) { return ln.forward(v[0]); }, {e::randn({3, 6}, gen, DType::f64)}, ln.parameters()));
  SwiGlu swiglu(4, 8, gen, init);
  swiglu.to(DType::f64);
  expect_ok(ag::gradcheck([&](auto v) { return swiglu.forward(v[0]); }, {e::randn({2, 3, 4}, gen, DType::f64)}, swiglu.parameters()));
  GeluMlp mlp(4, 8, true, gen, init);
  mlp.to(DType::f64);
  expect_ok(ag::gradcheck([&](auto v) { return mlp.forward(v[0]); }, {e::randn({2, 4}, gen, DType::f64)}, mlp.parameters()));
}

TEST_CASE("gradcheck: causal attention with RoPE, and with key padding") {
  e::Generator gen(4);
  Attention attn(AttentionConfig{.dim = 8, .n_heads = 2, .bias = true}, gen, InitConfig{0.3});
  attn.to(DType::f64);
  Tensor pos = e::arange(0, 5);
  expect_ok(ag::gradcheck([&](auto v) { return attn.forward(v[0], pos); }, {e::randn({2, 5, 8}, gen, DType::f64)}, attn.parameters()));
  Tensor pad = e::from_vector<uint8_t>({0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, {2, 5});
  expect_ok(ag::gradcheck([&](auto v) { return attn.forward(v[0], pos, nullptr, pad); }, {e::randn({2, 5, 8}, gen, DType::f64)}));
}

TEST_CASE("causal attention does not look ahead") {
  e::Generator gen(5);
  Attention attn(AttentionConfig{.dim = 8, .n_heads = 2, .bias = false}, gen, InitConfig{0.3});
  Tensor x = e::randn({1, 6, 8}, gen);
  Tensor y = attn.forward(Var(x), e::arange(0, 6)).data();
  Tensor x2 = x.clone();
  e::fill_(x2.slice(1, 4, 6), 7.0);  // change the future
  Tensor y2 = attn.forward(Var(x2), e::arange(0, 6)).data();
  QS_CHECK_CLOSE(y.slice(1, 0, 4), y2.slice(1, 0, 4), 1e-6);
  CHECK(!e::allclose(y.slice(1, 4, 6), y2.slice(1, 4, 6)));
}

TEST_CASE("attention with a KV cache matches attention over the whole sequence") {
  e::Generator gen(6);
  Attention attn(AttentionConfig{.dim = 8, .n_heads = 2, .bias = false}, gen, InitConfig{0.3});
  Tensor x = e::randn({2, 7, 8}, gen);
  Tensor full = attn.forward(Var(x), e::arange(0, 7)).data();
  KVCache cache;
  Tensor first = attn.forward(Var(x.slice(1, 0, 4)), e::arange(0, 4), &cache).data();
  Tensor rest = attn.forward(Var(x.slice(1, 4, 7)), e::arange(4, 7), &cache).data();
  CHECK(cache.length() == 7);
  QS_CHECK_CLOSE(e::concat({first, rest}, 1), full, 1e-5);
}

TEST_CASE("a checkpointed block gives the same gradients as a plain one") {
  e::Generator gen(7);
  BlockConfig c{AttentionConfig{.dim = 8, .n_heads = 2, .bias = false}, 16};
  TransformerBlock block(c, gen, InitConfig{0.2});
  Tensor x = e::randn({2, 5, 8}, gen);
  Tensor pos = e::arange(0, 5);
  auto grads = [&](bool checkpointing) {
    block.checkpointing = checkpointing;
    for (auto& p : block.parameters()) p.zero_grad();
    Var xv(x, true);
    Var loss = ag::sum(ag::pow(block.forward(xv, pos), 2.0));
    loss.backward();
    std::vector<Tensor> g{xv.grad()};
    for (auto& p : block.parameters()) g.push_back(p.grad());
    return g;
  };
  auto plain = grads(false), ckpt = grads(true);
  REQUIRE(plain.size() == ckpt.size());
  for (std::size_t i = 0; i < plain.size(); ++i) CHECK(e::equal(plain[i], ckpt[i]));
}

TEST_CASE("dropout: identity in eval, scaled mask in train, reproducible") {
  Dropout a(0.25, 11), b(0.25, 11);
  Tensor x = e::ones({1000});
  Tensor ya = a.forward(Var(x)).data(), yb = b.forward(Var(x)).data();
  CHECK(e::equal(ya, yb));
  double kept = e::sum(e::gt(ya, 0.0).to(DType::f32)).item<double>();
  CHECK(kept == doctest::Approx(750).epsilon(0.08));
  CHECK(e::max(ya).item<double>() == doctest::Approx(1.0 / 0.75));
  a.eval();
  CHECK(e::equal(a.forward(Var(x)).data(), x));
}

TEST_CASE("dropout then matmul, fused: the composition's numbers, without keeping the dropped copy") {
  qs::engine::Generator gx(3);
  const Tensor x = qs::engine::randn({4, 64, 96}, gx), w = qs::engine::randn({16, 96}, gx);
  auto forward = [&](bool fused, Dropout& d, const Var& xv, const Var& wv) {
    return fused ? d.forward_matmul(xv, ag::transpose(wv, 0, 1)) : ag::matmul(d.forward(xv), ag::transpose(wv, 0, 1));
  };
  auto grads = [&](bool fused) {
    Dropout d(0.25, 11);
    Var xv(x.clone(), true), wv(w.clone(), true);
    Var y = forward(fused, d, xv, wv);
    ag::sum(y * y).backward();
    return std::tuple{y.data(), xv.grad(), wv.grad()};
  };
  auto [y0, gx0, gw0] = grads(false);
  auto [y1, gx1, gw1] = grads(true);
  CHECK(e::equal(y0, y1));
  CHECK(e::equal(gx0, gx1));
  CHECK(e::equal(gw0, gw1));
  // Bytes the graph holds: live with the output alive minus live once it is
  // gone (the GEMM's per-thread scratch, also live, is there both times).
  auto held = [&](bool fused) {
    Dropout d(0.25, 11);
    Var xv(x, true), wv(w, true);
    Var y = forward(fused, d, xv, wv);
    const std::size_t with = qs::engine::cpu::host_cache_stats().live_bytes;
    y = Var();
    return with - qs::engine::cpu::host_cache_stats().live_bytes;
  };
  // The composition keeps the output, the dropped copy and its u8 mask; the
  // fused op the output and the mask (x is the caller's).
  const std::size_t x_bytes = static_cast<std::size_t>(x.numel()) * 4, y_bytes = 4 * 64 * 16 * 4;
  CHECK(held(false) >= y_bytes + x_bytes + x_bytes / 4);
  CHECK(held(true) < y_bytes + x_bytes / 2);
}

TEST_CASE("Attention with the fused kernel matches the unfused ops, with padding and a KV cache") {
  qs::nn::AttentionConfig c;
  c.dim = 24;
  c.n_heads = 3;
  c.kernel = qs::nn::AttentionConfig::Kernel::unfused;
  qs::engine::Generator g1(9), g2(9);
  qs::nn::InitConfig init;
  qs::nn::Attention plain(c, g1, init);
  c.kernel = qs::nn::AttentionConfig::Kernel::fused;
  qs::nn::Attention fused(c, g2, init);
  qs::engine::Generator gx(10);
  Tensor x = qs::engine::randn({2, 5, 24}, gx);
  Tensor pad = qs::engine::from_vector<uint8_t>({0, 0, 0, 0, 0, 1, 1, 0, 0, 0}, {2, 5});
  Tensor pos = qs::engine::arange(0, 5);
  QS_CHECK_CLOSE(fused.forward(Var(x), pos, nullptr, pad).data(), plain.forward(Var(x), pos, nullptr, pad).data(), 1e-5);
  // Incremental decoding: the prompt, then one token against the cache.
  qs::nn::KVCache ca, cb;
  plain.forward(Var(x.slice(1, 0, 4)), qs::engine::arange(0, 4), &ca);
  fused.forward(Var(x.slice(1, 0, 4)), qs::engine::arange(0, 4), &cb);
  QS_CHECK_CLOSE(fused.forward(Var(x.slice(1, 4, 5)), qs::engine::arange(4, 5), &cb).data(),
                 plain.forward(Var(x.slice(1, 4, 5)), qs::engine::arange(4, 5), &ca).data(), 1e-5);
}
