#include "autograd/functions.h"
#include "nn/lora.h"
#include "nn/models/llama.h"
#include "nn/optim/optimizer.h"
#include "quant/nf4_linear.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"
#include "support.h"

using namespace qs::quant;
using qs::test::error_of;
using qs::test::has;
namespace e = qs::engine;
namespace nn = qs::nn;

namespace {
nn::LlamaConfig tiny() {
  nn::LlamaConfig c;
  c.vocab_size = 20;
  c.dim = 16;
  c.n_layers = 3;
  c.n_heads = 2;
  c.ffn_hidden = 32;
  c.max_seq_len = 16;
  return c;
}
}  // namespace

TEST_CASE("surgery swaps chosen linears for quantized, NF4 or LoRA-wrapped layers") {
  nn::Llama model(tiny());
  auto q = quantize_linears(model, {4, 8, false}, path_pattern("layers.1-.*_proj"));
  CHECK(q.size() == 14u);  // 7 linears in blocks 1 and 2
  CHECK(dynamic_cast<QuantLinear*>(&model.submodule("layers.1.attn.q_proj")));
  CHECK(dynamic_cast<nn::Linear*>(&model.submodule("layers.0.attn.q_proj")));
  auto n = nf4_linears(model, 16, true, path_pattern("layers.0-0.*_proj"));
  CHECK(n.size() == 7u);
  CHECK(dynamic_cast<Nf4Linear*>(&model.submodule("layers.0.mlp.down_proj")));
  // LoRA wraps any linear layer, quantized ones included, and leaves lm_head.
  auto l = add_lora(model, {2, 4.0, 0.0, 1}, path_pattern("layers.0-.*_proj"));
  CHECK(l.size() == 21u);
  auto& wrapped = dynamic_cast<nn::LoraLinear&>(model.submodule("layers.2.mlp.up_proj"));
  CHECK(dynamic_cast<QuantLinear*>(&wrapped.base()));
  CHECK(dynamic_cast<nn::Linear*>(&model.submodule("lm_head")));
  // Different layers get different A matrices.
  auto& other = dynamic_cast<nn::LoraLinear&>(model.submodule("layers.2.mlp.gate_proj"));
  CHECK_FALSE(e::allclose(wrapped.lora_a.data().slice(1, 0, 16), other.lora_a.data().slice(1, 0, 16), 0, 0));
  // Output unchanged at init (B = 0).
  nn::Llama reference(tiny());
  e::Tensor ids = e::from_vector<int64_t>({1, 2, 3, 4}, {1, 4});
  CHECK(model.forward(ids).logits.shape() == reference.forward(ids).logits.shape());
}

TEST_CASE("QuantLinear.set_grid fixes a given grid: the calibrated grid of a packed checkpoint") {
  e::Generator gen(2);
  nn::Linear lin(16, 4, false, gen, 0.5);
  QuantLinear a(lin, {4, 8, false});
  a.enable_clipping(1.0);  // strong clipping: a grid unlike min-max
  a.freeze_grid();
  QuantLinear b(lin, {4, 8, false});
  b.set_grid(a.grid());
  QS_CHECK_CLOSE(b.effective_weight(), a.effective_weight(), 0);
  b.enable_scale_learning();
  CHECK(b.alpha().shape() == e::Shape{4, 2});
  CHECK(has(error_of([&] { b.set_grid({e::ones({4, 3}), e::zeros({4, 3})}); }), "must both be"));
}

TEST_CASE("LoRA on a frozen LLM learns a fixed answer after a prompt") {
  nn::LlamaConfig c = tiny();
  c.max_seq_len = 32;
  c.init_std = 0.5;  // a frozen random head at 0.02 could not express any answer
  nn::Llama model(c);
  model.set_requires_grad(false);
  add_lora(model, {4, 8.0, 0.0, 1}, path_pattern("layers.0-.*_proj"));
  std::vector<std::pair<std::string, qs::autograd::Var>> params;
  for (auto& [path, p] : model.named_parameters()) {
    if (p.requires_grad()) params.emplace_back(path, p);
  }
  REQUIRE(params.size() == 3 * 7 * 2);
  nn::AdamW opt({nn::ParamGroup{"lora", params, 1e-2, 0.0}});
  // Prompts differ; the answer "7 8 9" after the marker 6 is always the same.
  e::Tensor ids = e::from_vector<int64_t>({1, 2, 3, 6, 7, 8, 9, 4, 5, 2, 6, 7, 8, 9}, {2, 7});
  e::Tensor targets = e::from_vector<int64_t>({-100, -100, 6, 7, 8, 9, -100, -100, -100, 6, 7, 8, 9, -100}, {2, 7});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    auto logits = model.forward(ids).logits;
    auto loss = qs::autograd::cross_entropy(qs::autograd::reshape(logits, {-1, c.vocab_size}), targets.reshape({-1}));
    (step == 0 ? first : last) = loss.data().item<double>();
    loss.backward();
    opt.step();
    opt.zero_grad();
  }
  MESSAGE("LoRA answer loss " << first << " -> " << last);
  CHECK(last < 0.1 * first);
}
