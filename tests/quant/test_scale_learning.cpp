#include "autograd/functions.h"
#include "engine/ops.h"
#include "nn/models/llama.h"
#include "quant/scale_learning.h"
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

std::unique_ptr<nn::Llama> quantized(int64_t start_layer) {
  auto m = std::make_unique<nn::Llama>(tiny());
  quantize_linears(*m, {3, 8, false}, path_pattern("layers.0-.*_proj"));
  enable_scale_learning(*m, start_layer);
  return m;
}
}  // namespace

TEST_CASE("scale learning: alpha on the blocks after start_layer only, by path") {
  CHECK(block_index("layers.12.mlp.up_proj") == 12);
  CHECK(block_index("layers.x.mlp") == -1);
  CHECK(block_index("lm_head") == -1);
  auto m = quantized(0);
  const auto alpha = alpha_state(*m);
  CHECK(alpha.size() == 14u);  // 7 linears in blocks 1 and 2 (the comparison is strict)
  CHECK(alpha.count("layers.1.attn.q_proj"));
  CHECK_FALSE(alpha.count("layers.0.attn.q_proj"));
  CHECK(alpha.at("layers.2.mlp.down_proj").shape() == e::Shape{16, 4});  // (out, in / group)
  CHECK(mean_alpha_shift(*m) == 0.0);
  CHECK(alpha_state(*quantized(-1)).size() == 21u);
}

TEST_CASE("scale learning: alpha saved and loaded by path, folded into codes with the same output") {
  auto m = quantized(-1);
  m->eval();
  e::Generator gen(7);
  for (auto& [path, a] : alpha_state(*m)) e::copy_(a, e::rand(a.shape(), gen, e::DType::f32, 0.8, 1.25));
  const double shift = mean_alpha_shift(*m);
  CHECK(shift > 0.05);
  const e::Tensor ids = e::from_vector(std::vector<int64_t>{1, 5, 7, 3, 2, 9}, {1, 6});
  const e::Tensor fake = m->forward(ids).logits.data();
  // Another model takes the saved alpha and computes the same.
  auto other = quantized(-1);
  other->eval();
  load_alpha(*other, alpha_state(*m), "alpha.h5");
  QS_CHECK_CLOSE(other->forward(ids).logits.data(), fake, 1e-6);
  // Folding: packed codes, no alpha left, the same function.
  fold_alpha(*m);
  CHECK(alpha_state(*m).empty());
  for_each_quant(*m, [](const std::string&, QuantLinear& q) { CHECK(q.mode() == QuantMode::packed); });
  QS_CHECK_CLOSE(m->forward(ids).logits.data(), fake, 1e-4);
  // Reset and the trainable set.
  reset_alpha(*other);
  CHECK(mean_alpha_shift(*other) == 0.0);
  other->set_requires_grad(false);
  set_alpha_trainable(*other);
  int64_t trainable = 0;
  for (auto& [path, p] : other->named_parameters()) trainable += p.requires_grad() ? 1 : 0;
  CHECK(trainable == 21);
  // A missing or mis-shaped alpha names the file and the layer.
  auto saved = alpha_state(*other);
  saved.erase("layers.2.mlp.up_proj");
  CHECK(has(error_of([&] { load_alpha(*other, saved, "x/alpha.h5"); }), "x/alpha.h5: no alpha for layer 'layers.2.mlp.up_proj'"));
  saved["layers.2.mlp.up_proj"] = e::ones({2, 2});
  CHECK(has(error_of([&] { load_alpha(*other, saved, "x/alpha.h5"); }), "alpha of 'layers.2.mlp.up_proj' is"));
}
