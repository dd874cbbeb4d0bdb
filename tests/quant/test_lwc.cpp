#include "engine/ops.h"
#include "quant/lwc.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"
#include "support.h"

using namespace qs::quant;
namespace e = qs::engine;
namespace nn = qs::nn;

TEST_CASE("LWC calibration lowers every block's held-out output MSE below min-max") {
  nn::LlamaConfig c;
  c.vocab_size = 60;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 2;
  c.ffn_hidden = 64;
  c.max_seq_len = 16;
  c.init_std = 0.1;
  c.seed = 4;
  nn::Llama model(c);
  auto replaced = quantize_linears(model, QuantSpec{3, 16, false}, path_pattern("layers.0-.*"));
  REQUIRE(replaced.size() == 14);
  e::Generator gen(8);
  auto ids = [&](int64_t n) { return e::clamp(e::round(e::rand({n, 16}, gen, e::DType::f32, 0, 59)), 0, 59).to(e::DType::i64); };
  auto reports = calibrate_lwc(model, ids(16), ids(8), LwcConfig{10, 2e-2, 4, 4.0});
  REQUIRE(reports.size() == 2);
  for (auto& r : reports) {
    MESSAGE("block " << r.layer << ": min-max MSE " << r.mse_minmax << " -> LWC " << r.mse_lwc);
    CHECK(r.mse_lwc < r.mse_minmax);
  }
  // Calibration leaves frozen grids: the clipping factors no longer train.
  auto& q = dynamic_cast<QuantLinear&>(model.submodule("layers.1.mlp.down_proj"));
  CHECK(!q.parameter("clip_upper").requires_grad());
}
