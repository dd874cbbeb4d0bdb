#include <functional>

#include "nn/linear.h"
#include "nn/transformer_block.h"
#include "support.h"

using qs::test::error_of;
using qs::test::has;

using namespace qs::nn;
namespace e = qs::engine;

namespace {

std::shared_ptr<ModuleList> two_blocks() {
  e::Generator gen(1);
  BlockConfig c;
  c.attn.dim = 16;
  c.attn.n_heads = 2;
  c.hidden = 32;
  auto list = std::make_shared<ModuleList>();
  list->append(std::make_shared<TransformerBlock>(c, gen, InitConfig{}));
  list->append(std::make_shared<TransformerBlock>(c, gen, InitConfig{}));
  return list;
}
}  // namespace

TEST_CASE("parameters have dotted paths in registration order") {
  auto m = two_blocks();
  auto named = m->named_parameters();
  CHECK(named.front().first == "0.attn_norm.weight");
  bool found = false;
  for (auto& [n, v] : named) found = found || n == "1.attn.q_proj.weight";
  CHECK(found);
  CHECK(m->parameter("1.mlp.down_proj.weight").shape() == Shape{16, 32});
  // per block: 2 norms (16 each), 4 attention (16x16), 3 SwiGLU (16x32)
  CHECK(m->num_parameters() == 2 * (2 * 16 + 4 * 256 + 3 * 512));
  CHECK(has(error_of([&] { m->parameter("1.attn.nope"); }), "1.attn.nope"));
  CHECK(has(error_of([&] { m->submodule("0.ffn"); }), "ffn"));
}

TEST_CASE("freezing a subtree and train/eval mode") {
  auto m = two_blocks();
  m->submodule("0").set_requires_grad(false);
  CHECK(!m->parameter("0.attn.q_proj.weight").requires_grad());
  CHECK(m->parameter("1.attn.q_proj.weight").requires_grad());
  CHECK(m->num_parameters(true) == m->num_parameters() / 2);
  m->eval();
  CHECK(!m->submodule("1.attn").is_training());
  m->train();
  CHECK(m->submodule("1.attn").is_training());
}

TEST_CASE("state dicts round-trip and mismatches are named") {
  auto a = two_blocks(), b = two_blocks();
  e::Generator gen(9);
  for (auto& [n, v] : a->named_parameters()) v.set_data(e::randn(v.shape(), gen));
  b->load_state_dict(a->state_dict());
  for (auto& [n, v] : a->named_parameters()) CHECK(e::equal(v.data(), b->parameter(n).data()));

  auto state = a->state_dict();
  state.erase("1.attn.k_proj.weight");
  state["1.attn.extra"] = e::zeros({1});
  state["0.mlp.up_proj.weight"] = e::zeros({3, 3});
  std::string m = error_of([&] { b->load_state_dict(state); });
  CHECK(has(m, "missing: 1.attn.k_proj.weight"));
  CHECK(has(m, "unexpected: 1.attn.extra"));
  CHECK(has(m, "0.mlp.up_proj.weight (expected f32[32, 16], got f32[3, 3])"));
  // A failed load leaves the module as it was.
  CHECK(e::equal(b->parameter("0.attn.q_proj.weight").data(), a->parameter("0.attn.q_proj.weight").data()));
}

TEST_CASE("module surgery: a replaced child is used by the next forward") {
  e::Generator gen(2);
  auto block = std::make_shared<TransformerBlock>(
      BlockConfig{AttentionConfig{.dim = 8, .n_heads = 2}, 16}, gen, InitConfig{});
  Tensor x = e::randn({1, 3, 8}, gen);
  Tensor pos = e::arange(0, 3);
  Tensor before = block->forward(Var(x), pos).data();
  auto& attn = block->submodule("attn");
  auto zero = std::make_shared<Linear>(8, 8, false, gen, 0.02);
  e::fill_(zero->weight.data(), 0.0);
  attn.replace_child("o_proj", zero);
  Tensor after = block->forward(Var(x), pos).data();
  CHECK(!e::allclose(before, after));
  CHECK(block->parameter("attn.o_proj.weight").data().storage() == zero->weight.data().storage());
}
