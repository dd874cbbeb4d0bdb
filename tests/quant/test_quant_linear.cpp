#include <filesystem>

#include "autograd/functions.h"
#include "engine/io/tensor_file.h"
#include "nn/models/llama.h"
#include "nn/optim/optimizer.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"
#include "support.h"

using namespace qs::quant;
namespace ag = qs::autograd;
namespace e = qs::engine;
namespace nn = qs::nn;
using qs::test::error_of;
using qs::test::has;

namespace {
nn::LlamaConfig tiny() {
  nn::LlamaConfig c;
  c.vocab_size = 50;
  c.dim = 32;
  c.n_layers = 3;
  c.n_heads = 2;
  c.ffn_hidden = 64;
  c.max_seq_len = 16;
  c.init_std = 0.1;
  c.seed = 9;
  return c;
}
}  // namespace

TEST_CASE("layer patterns select by dotted path and layer index") {
  PathFilter f = path_pattern("layers.1-.*_proj");
  CHECK(f("layers.1.attn.q_proj"));
  CHECK(f("layers.12.mlp.down_proj"));
  CHECK(!f("layers.0.attn.q_proj"));
  CHECK(!f("layers.1.attn_norm"));
  CHECK(!f("lm_head"));
  PathFilter g = path_pattern("layers.0-1.attn.*");
  CHECK(g("layers.1.attn.o_proj"));
  CHECK(!g("layers.2.attn.o_proj"));
  CHECK(path_pattern("lm_head")("lm_head"));
  CHECK_THROWS_AS(path_pattern("layers.(["), qs::Error);
}

TEST_CASE("fake-mode QuantLinear computes x W_hat^T with the min-max grid") {
  e::Generator gen(1);
  nn::Linear lin(40, 6, true, gen, 0.5);
  QuantSpec spec{4, 16, false};
  QuantLinear q(lin, spec);
  Tensor x = e::randn({3, 40}, gen);
  GroupParams p = minmax_params(lin.weight.data(), spec);
  Tensor w_hat = dequantize(quantize(lin.weight.data(), p, spec), p, spec);
  QS_CHECK_CLOSE(q.forward(ag::Var(x)).data(), e::matmul(x, w_hat.t()) + lin.bias.data(), 1e-5);
  CHECK(!q.parameter("weight").requires_grad());
}

TEST_CASE("a folded, packed model gives the logits of the fake-quant model with learned alpha") {
  for (int bits : {2, 3, 4, 8}) {
    CAPTURE(bits);
    nn::Llama model(tiny());
    auto replaced = quantize_linears(model, QuantSpec{bits, 16, false}, path_pattern("layers.0-.*"));
    CHECK(replaced.size() == 3 * 7);
    e::Generator gen(bits);
    for (const std::string& path : replaced) {
      auto& ql = dynamic_cast<QuantLinear&>(model.submodule(path));
      ql.enable_scale_learning();
      ql.alpha().set_data(e::rand(ql.alpha().shape(), gen, e::DType::f32, 0.8, 1.25));  // "learned"
    }
    Tensor ids = e::from_vector<int64_t>({1, 5, 9, 2, 7, 3, 3, 8}, {2, 4});
    Tensor fake = model.forward(ids).logits.data();
    for (const std::string& path : replaced) dynamic_cast<QuantLinear&>(model.submodule(path)).to_real();
    Tensor real = model.forward(ids).logits.data();
    QS_CHECK_CLOSE(real, fake, 1e-5);
    // Deployed layers carry no extra parameters: no alpha, no master weight.
    for (const std::string& path : replaced) CHECK(model.submodule(path).parameters().empty());
  }
}

TEST_CASE("real mode: input gradients match fake mode, codes get none") {
  e::Generator gen(4);
  nn::Linear lin(8192, 600, false, gen, 0.3);  // 512-row tiles of 16 MiB: two tiles in real mode
  QuantLinear fake(lin, QuantSpec{4, 64, false}), real(lin, QuantSpec{4, 64, false});
  real.to_real();
  Tensor x = e::randn({5, 8192}, gen);
  ag::Var xf(x, true), xr(x, true);
  Tensor up = e::randn({5, 600}, gen);
  ag::sum(ag::mul(fake.forward(xf), ag::Var(up))).backward();
  ag::sum(ag::mul(real.forward(xr), ag::Var(up))).backward();
  QS_CHECK_CLOSE(xr.grad(), xf.grad(), 1e-3);
  CHECK(real.parameters().empty());
  QS_CHECK_CLOSE(real.effective_weight(), fake.effective_weight(), 1e-6);
}

TEST_CASE("weight memory and bits per parameter of packed layers") {
  e::Generator gen(5);
  nn::Linear lin(256, 128, false, gen, 0.1);
  QuantLinear q4(lin, QuantSpec{4, 64, false}), q3(lin, QuantSpec{3, 128, false});
  CHECK(q4.bits_per_parameter() == 32.0);
  q4.to_real();
  q3.to_real();
  // codes + f32 scale + f32 zero per group
  CHECK(q4.weight_bytes() == 128 * 128 + 2 * 128 * 4 * 4);
  CHECK(q4.bits_per_parameter() == doctest::Approx(4.0 + 64.0 / 64));
  CHECK(q3.bits_per_parameter() == doctest::Approx(3.0 + 64.0 / 128));
}

TEST_CASE("scale learning: only alpha trains, the grid and weights stay bit-identical") {
  nn::Llama model(tiny());
  auto replaced = quantize_linears(model, QuantSpec{2, 16, false}, path_pattern("layers.0-.*"));
  model.set_requires_grad(false);
  std::vector<std::pair<std::string, ag::Var>> alphas;
  for (const std::string& path : replaced) {
    auto& ql = dynamic_cast<QuantLinear&>(model.submodule(path));
    ql.enable_scale_learning();
    alphas.emplace_back(path + ".alpha", ql.alpha());
  }
  auto before = model.state_dict();
  nn::AdamW opt({nn::ParamGroup{"alpha", alphas, 1e-2, 0.0}});
  Tensor ids = e::from_vector<int64_t>({1, 5, 9, 2, 7, 3, 3, 8, 4, 1, 1, 6}, {1, 12});
  auto loss_of = [&] {
    ag::Var logits = model.forward(ids.slice(1, 0, 11).contiguous()).logits;
    return ag::cross_entropy(ag::reshape(logits, {11, 50}), ids.slice(1, 1, 12).reshape({11}));
  };
  const double first = loss_of().data().item<double>();
  for (int i = 0; i < 30; ++i) {
    ag::Var loss = loss_of();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  const double last = loss_of().data().item<double>();
  MESSAGE("2-bit model, alpha only: loss " << first << " -> " << last);
  CHECK(last < first);
  for (auto& [name, t] : model.state_dict()) {
    if (name.find("alpha") != std::string::npos) continue;
    CAPTURE(name);
    CHECK(e::equal(t, before.at(name)));
  }
}

TEST_CASE("the fused 4-bit decoding kernel matches the dequantized product") {
  e::Generator gen(6);
  for (int64_t group : {64, 16, 6}) {  // AVX-512 path, mixed, and the scalar tail
    CAPTURE(group);
    nn::Linear lin(96, 70, false, gen, 0.3);
    QuantLinear q(lin, QuantSpec{4, group, false});
    q.to_real();
    Tensor x = e::randn({2, 96}, gen);
    Tensor expected = e::matmul(x, q.effective_weight().t());
    ag::NoGrad no_grad;  // decoding: no graph, so the fused kernel runs
    QS_CHECK_CLOSE(q.forward(ag::Var(x)).data(), expected, 1e-4);
    QS_CHECK_CLOSE(q.forward(ag::Var(x.slice(0, 0, 1))).data(), expected.slice(0, 0, 1), 1e-4);
  }
}

TEST_CASE("real quantized weights save to a checkpoint and load into a fresh model") {
  nn::Llama a(tiny());
  auto replaced = quantize_linears(a, QuantSpec{3, 16, false}, path_pattern("layers.0-.*"));
  for (const auto& p : replaced) dynamic_cast<QuantLinear&>(a.submodule(p)).to_real();
  auto path = std::filesystem::temp_directory_path() / "qslaw_test_quantized.h5";
  e::TensorFile f;
  f.tensors = a.state_dict();
  e::save_tensor_file(path, f);
  CHECK(f.tensors.count("layers.1.mlp.up_proj.qweight") == 1);

  nn::LlamaConfig other = tiny();
  other.seed = 123;  // different weights until the checkpoint is loaded
  nn::Llama b(other);
  auto again = quantize_linears(b, QuantSpec{3, 16, false}, path_pattern("layers.0-.*"));
  for (const auto& p : again) dynamic_cast<QuantLinear&>(b.submodule(p)).to_real();
  Tensor ids = e::from_vector<int64_t>({1, 5, 9, 2}, {1, 4});
  CHECK(!e::allclose(b.forward(ids).logits.data(), a.forward(ids).logits.data()));
  b.load_state_dict(e::load_tensor_file(path).tensors);
  CHECK(e::equal(b.forward(ids).logits.data(), a.forward(ids).logits.data()));
  std::filesystem::remove(path);
}

namespace {
// A layer with a calibrated (clipped) grid and learned alpha: nothing about
// its state is the default, so a round trip that drops any of it shows.
std::unique_ptr<QuantLinear> calibrated_layer(const nn::Linear& lin) {
  auto q = std::make_unique<QuantLinear>(lin, QuantSpec{3, 8, false});
  q->enable_clipping(0.5);  // strong clipping: a grid unlike min-max
  q->freeze_grid();
  q->enable_scale_learning();
  e::Generator gen(4);
  e::copy_(q->alpha().data(), e::rand(q->alpha().shape(), gen, e::DType::f32, 0.8, 1.2));
  return q;
}
}  // namespace

TEST_CASE("QuantLinear keeps one grid: the buffers are what the forward reads") {
  e::Generator gen(2);
  nn::Linear lin(24, 5, true, gen, 0.5);
  auto q = calibrated_layer(lin);
  const Tensor x = e::randn({3, 24}, gen);
  const Tensor y = q->forward(ag::Var(x)).data().clone();
  // The grid handed out is the state dict's, not a copy beside it.
  const auto state = q->state_dict();
  CHECK(e::equal(q->grid().scale, state.at("scale")));
  CHECK(e::equal(q->grid().zero, state.at("zero")));
  CHECK(!e::equal(state.at("scale"), minmax_params(lin.weight.data(), q->spec()).scale));

  SUBCASE("a dtype round trip leaves the state and the forward as they were") {
    q->to(e::DType::f64);
    CHECK(q->state_dict().at("scale").dtype() == e::DType::f64);
    q->to(e::DType::f32);
    CHECK(e::equal(q->state_dict().at("scale"), state.at("scale")));
    CHECK(e::equal(q->forward(ag::Var(x)).data(), y));
  }
  SUBCASE("a state-dict round trip into a fresh layer reproduces the forward") {
    QuantLinear fresh(lin, QuantSpec{3, 8, false});
    fresh.enable_scale_learning();
    fresh.load_state_dict(state, /*strict=*/false);  // the fresh layer has no clipping factors
    CHECK(e::equal(fresh.forward(ag::Var(x)).data(), y));
  }
  SUBCASE("a loaded grid is the one the forward uses") {
    auto edited = state;
    edited.at("scale") = e::mul(state.at("scale"), e::scalar(2.0));
    q->load_state_dict(edited);
    GroupParams doubled{edited.at("scale"), edited.at("zero")};
    const Tensor w_hat = dequantize(quantize(lin.weight.data(), doubled, q->spec(), q->alpha().data()), doubled,
                                    q->spec());
    QS_CHECK_CLOSE(q->effective_weight(), w_hat, 1e-6);
    QS_CHECK_CLOSE(q->forward(ag::Var(x)).data(), e::matmul(x, w_hat.t()) + lin.bias.data(), 1e-5);
  }
  SUBCASE("packed: the state dict carries codes and grid, and a round trip reproduces the forward") {
    q->to_real();
    CHECK(q->mode() == QuantMode::packed);
    const Tensor yp = q->forward(ag::Var(x)).data().clone();
    QS_CHECK_CLOSE(yp, y, 1e-5);  // alpha folded into the codes
    QuantLinear other(lin, QuantSpec{3, 8, false});
    other.to_real();
    other.load_state_dict(q->state_dict());
    CHECK(e::equal(other.forward(ag::Var(x)).data(), yp));
    q->to(e::DType::f64);
    q->to(e::DType::f32);
    CHECK(e::equal(q->forward(ag::Var(x)).data(), yp));
  }
}

TEST_CASE("QuantLinear's mode changes are checked") {
  e::Generator gen(3);
  nn::Linear lin(16, 4, false, gen, 0.5);
  QuantLinear q(lin, QuantSpec{4, 8, false});
  CHECK(q.mode() == QuantMode::grid);
  CHECK(has(error_of([&] { q.freeze_grid(); }), "needs clipping mode"));
  q.enable_clipping();
  CHECK(q.mode() == QuantMode::clipping);
  CHECK(has(error_of([&] { q.enable_scale_learning(); }), "needs grid mode"));
  CHECK(has(error_of([&] { q.to_real(); }), "needs grid mode"));
  q.freeze_grid();
  q.enable_scale_learning();
  CHECK(has(error_of([&] { q.enable_clipping(); }), "without scale learning"));
  q.to_real();
  CHECK(has(error_of([&] { q.set_bypass(true); }), "bypass needs the master weight"));
  CHECK(has(error_of([&] { q.set_grid(q.grid()); }), "needs grid mode"));
}
