// Quantize on load: the streamed, block-by-block path against quantizing the
// fully loaded f32 model afterwards.
#include <filesystem>

#include "engine/io/tensor_file.h"
#include "interop/quantized_llama.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"
#include "support.h"

using namespace qs;
using engine::Tensor;

namespace {

const std::filesystem::path kFixture = std::filesystem::path(QS_FIXTURES) / "hf_llama" / "gqa_tied_f16";

Tensor logits_of(nn::Llama& model) {
  autograd::NoGrad no_grad;
  return model.forward(engine::from_vector<int64_t>({4, 8, 15, 16, 23, 42}, {1, 6})).logits.data();
}

}  // namespace

TEST_CASE("quantize on load: streamed min-max and NF4 layers equal quantizing the loaded f32 model") {
  const nn::PathFilter proj = quant::path_pattern(".*_proj");
  {
    interop::QuantizeOnLoad q{.spec = {.bits = 4, .group_size = 16}};
    interop::LoadedLlama streamed = interop::load_hf_llama_quantized(kFixture, q);
    interop::LoadedLlama full = interop::load_hf_llama(kFixture);
    for (const std::string& path : quant::quantize_linears(*full.model, q.spec, proj)) {
      dynamic_cast<quant::QuantLinear&>(full.model->submodule(path)).to_real();
    }
    auto& layer = dynamic_cast<quant::QuantLinear&>(streamed.model->submodule("layers.1.attn.k_proj"));
    CHECK(layer.mode() == quant::QuantMode::packed);
    CHECK(layer.out_features() == 16);  // grouped-query: 2 key/value heads of 8
    CHECK(engine::equal(logits_of(*streamed.model), logits_of(*full.model)));
    // And 4-bit is close to, but not, the f16 model.
    interop::LoadedLlama plain = interop::load_hf_llama(kFixture);
    const Tensor exact = logits_of(*plain.model);
    const double err = engine::max(engine::abs(logits_of(*streamed.model) - exact)).item<double>();
    const double scale = engine::max(engine::abs(exact)).item<double>();
    // The error is quantization's: 8 bits on the same groups shrink it about 16x.
    interop::LoadedLlama eight = interop::load_hf_llama_quantized(kFixture, {.spec = {.bits = 8, .group_size = 16}});
    const double err8 = engine::max(engine::abs(logits_of(*eight.model) - exact)).item<double>();
    CAPTURE(err);
    CAPTURE(err8);
    CAPTURE(scale);
    CHECK(err > 1e-3 * scale);
    CHECK(err < 0.5 * scale);
    CHECK(err8 < err / 8);
  }
  {
    interop::QuantizeOnLoad q{.kind = interop::QuantizeOnLoad::Kind::nf4, .nf4_block = 16};
    interop::LoadedLlama streamed = interop::load_hf_llama_quantized(kFixture, q);
    interop::LoadedLlama full = interop::load_hf_llama(kFixture);
    quant::nf4_linears(*full.model, 16, true, proj);
    CHECK(engine::equal(logits_of(*streamed.model), logits_of(*full.model)));
  }
}

TEST_CASE("quantize on load: a bad spec or a checkpoint with extra tensors is refused by name") {
  interop::QuantizeOnLoad bad{.spec = {.bits = 5, .group_size = 16}};
  CHECK(qs::test::has(qs::test::error_of([&] { interop::load_hf_llama_quantized(kFixture, bad); }),
                      "bits must be 2, 3, 4 or 8"));
  // Loading piece by piece still reports a tensor no piece took.
  const std::filesystem::path root = qs::test::temp_root("quantized_extra");
  std::filesystem::create_directories(root);
  std::filesystem::copy_file(kFixture / "config.json", root / "config.json");
  engine::SafetensorsCheckpoint ck(kFixture);
  std::map<std::string, Tensor> t;
  for (const std::string& n : ck.names()) t[n] = ck.load(n);
  t["model.extra.weight"] = engine::zeros({2});
  engine::save_safetensors(root / "model.safetensors", t);
  const std::string err = qs::test::error_of([&] { interop::load_hf_llama_quantized(root, {}); });
  CHECK(qs::test::has(err, "unexpected: model.extra.weight"));
  CHECK(qs::test::has(err, root.string()));
  std::filesystem::remove_all(root);
}

TEST_CASE("quantize on load: a calibrated grid file (.safetensors or .h5) replaces the min-max grid") {
  const std::filesystem::path root = qs::test::temp_root("quantized_grid");
  std::filesystem::create_directories(root);
  const quant::QuantSpec spec{.bits = 4, .group_size = 16};
  // A "calibrated" grid: min-max shrunk by 10% (clipping, as LWC learns).
  interop::LoadedLlama full = interop::load_hf_llama(kFixture);
  std::map<std::string, Tensor> grid;
  for (const std::string& path : quant::quantize_linears(*full.model, spec, quant::path_pattern(".*_proj"))) {
    auto& q = dynamic_cast<quant::QuantLinear&>(full.model->submodule(path));
    const quant::GroupParams g = q.grid();
    q.set_grid({engine::mul(g.scale, engine::full_like(g.scale, 0.9)), g.zero.clone()});
    grid[path + ".scale"] = q.grid().scale;
    grid[path + ".zero"] = q.grid().zero;
    q.to_real();
  }
  grid["layers.0.attn_norm.weight"] = engine::ones({32});  // other tensors are ignored
  engine::save_safetensors(root / "grid.safetensors", grid);
  engine::TensorFile h5;
  h5.tensors = grid;
  engine::save_tensor_file(root / "grid.h5", h5);
  const Tensor want = logits_of(*full.model);
  for (const char* file : {"grid.safetensors", "grid.h5"}) {
    CAPTURE(file);
    interop::QuantizeOnLoad q{.spec = spec, .grid_file = root / file};
    CHECK(engine::equal(logits_of(*interop::load_hf_llama_quantized(kFixture, q).model), want));
  }
  const Tensor minmax = logits_of(*interop::load_hf_llama_quantized(kFixture, {.spec = spec}).model);
  CHECK(!engine::equal(minmax, want));

  // A grid for another group size, or one that misses a layer, is refused by name.
  interop::QuantizeOnLoad other{.spec = {.bits = 4, .group_size = 8}, .grid_file = root / "grid.safetensors"};
  std::string e = qs::test::error_of([&] { interop::load_hf_llama_quantized(kFixture, other); });
  CHECK(qs::test::has(e, "layers.0.attn.q_proj.scale"));
  CHECK(qs::test::has(e, "other bits or group size"));
  grid.erase("layers.1.mlp.down_proj.zero");
  engine::save_safetensors(root / "partial.safetensors", grid);
  interop::QuantizeOnLoad partial{.spec = spec, .grid_file = root / "partial.safetensors"};
  e = qs::test::error_of([&] { interop::load_hf_llama_quantized(kFixture, partial); });
  CHECK(qs::test::has(e, "no tensor 'layers.1.mlp.down_proj.zero'"));
  interop::QuantizeOnLoad nf4{.kind = interop::QuantizeOnLoad::Kind::nf4, .grid_file = root / "grid.h5"};
  CHECK(qs::test::has(qs::test::error_of([&] { interop::load_hf_llama_quantized(kFixture, nf4); }), "NF4"));
  std::filesystem::remove_all(root);
}
