#include "autograd/functions.h"
#include "nn/lora.h"
#include "nn/optim/optimizer.h"
#include "quant/bf16_linear.h"
#include "quant/footprint.h"
#include "quant/nf4_linear.h"
#include "quant/surgery.h"
#include "quant/quant_linear.h"
#include "support.h"

using namespace qs::quant;
namespace ag = qs::autograd;
namespace e = qs::engine;
namespace nn = qs::nn;

TEST_CASE("the NF4 code book is QLoRA's published table") {
  // Endpoints and zero exactly, 7 negative and 8 positive levels, ascending,
  // and spot values from the QLoRA paper / bitsandbytes.
  CHECK(kNf4Levels.front() == -1.0f);
  CHECK(kNf4Levels.back() == 1.0f);
  CHECK(kNf4Levels[7] == 0.0f);
  CHECK(std::is_sorted(kNf4Levels.begin(), kNf4Levels.end()));
  CHECK(kNf4Levels[1] == doctest::Approx(-0.6961928009986877));
  CHECK(kNf4Levels[8] == doctest::Approx(0.07958029955625534));
  CHECK(kNf4Levels[14] == doctest::Approx(0.7229568362236023));
}

TEST_CASE("NF4 quantization: error bounds, block absmax exact, bits per parameter") {
  e::Generator gen(1);
  Tensor w = e::randn({8, 128}, gen);
  for (bool dq : {false, true}) {
    CAPTURE(dq);
    Nf4Weight q = nf4_quantize(w, 64, dq);
    Tensor back = nf4_dequantize(q);
    // The error is at most half the widest gap between neighbouring levels
    // times the block's absmax (plus, with double quantization, the absmax's own error).
    double gap = 0;
    for (int i = 1; i < 16; ++i) gap = std::max(gap, double(kNf4Levels[i] - kNf4Levels[i - 1]));
    Tensor blocks = e::abs(w).view({16, 64});
    Tensor bound = e::max(blocks, 1, true).values * (0.5 * gap + (dq ? 0.02 : 1e-6));
    CHECK(e::max(e::sub(e::abs(back - w).view({16, 64}), bound)).item<double>() <= 0.0);
  }
  CHECK(nf4_quantize(w, 64, false).bits_per_parameter() == doctest::Approx(4.5));
  Tensor big = e::randn({256, 256}, gen);
  CHECK(nf4_quantize(big, 64, true).bits_per_parameter() == doctest::Approx(4.0 + 8.0 / 64 + 32.0 / (64 * 256)).epsilon(0.001));
  CHECK_THROWS_AS(nf4_quantize(e::randn({2, 100}, gen), 64, true), qs::Error);
}

TEST_CASE("Nf4Linear computes x W_nf4^T and passes input gradients") {
  e::Generator gen(2);
  nn::Linear lin(128, 300, true, gen, 0.2);
  Nf4Linear q(lin, 64, true);
  Tensor x = e::randn({3, 128}, gen);
  ag::Var xv(x, true);
  ag::Var y = q.forward(xv);
  QS_CHECK_CLOSE(y.data(), e::matmul(x, q.effective_weight().t()) + lin.bias.data(), 1e-4);
  ag::sum(y).backward();
  QS_CHECK_CLOSE(xv.grad(), e::sum(q.effective_weight(), 0, true).expand({3, 128}), 1e-4);
}

TEST_CASE("LoRA on a packed QuantLinear trains while codes and scales stay bit-identical") {
  e::Generator gen(3);
  nn::Linear lin(64, 32, false, gen, 0.2);
  auto q = std::make_shared<QuantLinear>(lin, QuantSpec{4, 32, false});
  q->to_real();
  auto frozen = q->state_dict();
  nn::LoraLinear lora(q, nn::LoraConfig{4, 8.0, 0.0, 7});
  Tensor x = e::randn({16, 64}, gen), target = e::randn({16, 32}, gen);
  QS_CHECK_CLOSE(lora.forward(ag::Var(x)).data(), q->forward(ag::Var(x)).data(), 0);  // B = 0 at start
  nn::AdamW opt({nn::ParamGroup{"lora", {{"a", lora.lora_a}, {"b", lora.lora_b}}, 1e-2, 0.0}});
  auto loss = [&] { return ag::mean(ag::pow(lora.forward(ag::Var(x)) - ag::Var(target), 2.0)); };
  const double first = loss().data().item<double>();
  for (int i = 0; i < 60; ++i) {
    ag::Var l = loss();
    opt.zero_grad();
    l.backward();
    opt.step();
  }
  CHECK(loss().data().item<double>() < 0.8 * first);
  for (auto& [name, t] : q->state_dict()) {
    CAPTURE(name);
    CHECK(e::equal(t, frozen.at(name)));
  }
  // Merging into a full-precision Linear reproduces the adapted layer.
  auto merged = lora.merged();
  QS_CHECK_CLOSE(merged->forward(ag::Var(x)).data(), lora.forward(ag::Var(x)).data(), 1e-4);
}

TEST_CASE("Bf16Linear computes x W_bf16^T, passes input gradients, and stores half the bytes") {
  e::Generator gen(3);
  nn::Linear lin(96, 70, true, gen, 0.2);
  Bf16Linear h(lin);
  // The stored weight is f32 rounded to bf16 (8 bits of mantissa).
  const Tensor rounded = lin.weight.data().to(e::DType::bf16).to(e::DType::f32);
  QS_CHECK_CLOSE(h.effective_weight(), rounded, 0.0);
  CHECK(e::max(e::abs(h.effective_weight() - lin.weight.data())).item<double>() > 0.0);  // it did round
  CHECK(h.weight_bytes() == 96 * 70 * 2);
  Tensor x = e::randn({2, 3, 96}, gen);
  ag::Var xv(x, true);
  ag::Var y = h.forward(xv);
  QS_CHECK_CLOSE(y.data(), e::matmul(x, rounded.t()) + lin.bias.data(), 1e-5);
  ag::sum(y).backward();
  QS_CHECK_CLOSE(xv.grad(), e::sum(rounded, 0, true).expand({2, 3, 96}), 1e-5);
  // LoRA over it trains like over any linear; the footprint counts 2 bytes a weight.
  struct Holder : nn::Module {
    explicit Holder(e::Generator& g) { register_module("fc", std::make_shared<nn::Linear>(96, 70, true, g, 0.2)); }
  } root(gen);
  CHECK(bf16_linears(root, path_pattern("fc")) == std::vector<std::string>{"fc"});
  CHECK(dynamic_cast<Bf16Linear*>(&root.submodule("fc")) != nullptr);
  const WeightFootprint f = weight_footprint(root);
  CHECK(f.quantized_params == 96 * 70);
  CHECK(f.quantized_bits_per_param() == doctest::Approx(16.0));
}
