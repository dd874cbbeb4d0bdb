// Export of tuned and quantized models: merged full-precision checkpoints,
// PEFT adapters and the packed deployed model, each read back to the same
// logits; and the files they refuse.
#include <filesystem>
#include <fstream>

#include "engine/io/json_file.h"
#include "engine/io/safetensors.h"
#include "engine/rng.h"
#include "interop/hf_llama.h"
#include "interop/merged_weights.h"
#include "interop/packed_llama.h"
#include "interop/peft_adapter.h"
#include "nn/lora.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"
#include "support.h"

using namespace qs;
using engine::DType;
using engine::Tensor;
using qs::test::error_of;
using qs::test::has;

namespace {

namespace fs = std::filesystem;

const fs::path kTiny = fs::path(QS_FIXTURES) / "hf_llama" / "gqa_tied_f16";
const std::vector<int64_t> kIds{1, 5, 17, 42, 3, 9, 60, 2};

// In eval mode: a loaded adapter keeps its config's dropout for training.
Tensor logits_of(nn::Llama& model) {
  model.eval();
  autograd::NoGrad no_grad;
  Tensor x = engine::from_vector(kIds, {1, static_cast<int64_t>(kIds.size())});
  return model.forward(x).logits.data().select(0, 0);
}

bool is_projection(const std::string& path) { return path.ends_with("_proj"); }

// Adapters on every projection with B drawn at random (a fresh adapter's B
// is zero and would hide a dropped or transposed update).
void adapt(nn::Llama& model) {
  quant::add_lora(model, {.rank = 4, .alpha = 8.0}, is_projection);
  engine::Generator gen(7);
  for (const auto& [path, module] : model.named_modules()) {
    if (auto* lora = dynamic_cast<nn::LoraLinear*>(module)) {
      engine::copy_(lora->lora_b.data(), engine::randn(lora->lora_b.shape(), gen, DType::f32, 0.0, 0.05));
    }
  }
}

void pack(nn::Llama& model) {
  for (const std::string& path : quant::quantize_linears(model, {.bits = 4, .group_size = 16}, is_projection)) {
    dynamic_cast<quant::QuantLinear&>(model.submodule(path)).to_real();
  }
}

}  // namespace

TEST_CASE("export: merged checkpoints hold plain names and compute what the adapted or quantized model computes") {
  const fs::path root = qs::test::temp_root("export_merged");
  auto lora = interop::load_hf_llama(kTiny);
  adapt(*lora.model);
  const Tensor want = logits_of(*lora.model);
  CHECK(engine::max_abs_diff(want, logits_of(*interop::load_hf_llama(kTiny).model)) > 1e-3);  // the adapter matters
  interop::save_hf_llama(*lora.model, lora.info, root / "lora");
  for (const std::string& name : engine::SafetensorsCheckpoint(root / "lora").names()) {
    CHECK_MESSAGE((!has(name, "lora") && !has(name, "base.")), name);
  }
  CHECK(engine::max_abs_diff(want, logits_of(*interop::load_hf_llama(root / "lora").model)) < 1e-5);

  // A quantized model exports dequantized: the same function in full precision.
  auto packed = interop::load_hf_llama(kTiny);
  pack(*packed.model);
  adapt(*packed.model);
  interop::save_hf_llama(*packed.model, packed.info, root / "quantized");
  CHECK(engine::max_abs_diff(logits_of(*packed.model), logits_of(*interop::load_hf_llama(root / "quantized").model)) < 1e-5);

  const auto merged = interop::merged_weights(*packed.model);
  CHECK(merged.count("layers.0.attn.q_proj.weight") == 1);
  CHECK(merged.at("layers.0.attn.q_proj.weight").shape() == engine::Shape{32, 32});
  CHECK(merged.count("layers.0.attn.q_proj.base.qweight") == 0);
}

TEST_CASE("export: PEFT adapters use PEFT's names and config, and load back onto the base model") {
  const fs::path root = qs::test::temp_root("export_peft");
  auto adapted = interop::load_hf_llama(kTiny);
  adapt(*adapted.model);
  interop::save_peft_adapter(*adapted.model, root / "adapter", {.base_model = "tiny-llama", .dropout = 0.05});

  const engine::SafetensorsFile file(root / "adapter" / "adapter_model.safetensors");
  CHECK(file.names().size() == 2 * 7 * 2);  // A and B of 7 projections in 2 blocks
  CHECK(file.entry("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape == engine::Shape{4, 32});
  CHECK(file.entry("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").shape == engine::Shape{32, 4});
  const auto config = engine::JsonObject::read(root / "adapter" / "adapter_config.json");
  CHECK(config.string("peft_type") == "LORA");
  CHECK(config.integer("r") == 4);
  CHECK(config.number("lora_alpha") == 8.0);
  CHECK(config.array("target_modules").size() == 7);
  CHECK(config.string("base_model_name_or_path") == "tiny-llama");

  auto base = interop::load_hf_llama(kTiny);
  CHECK(interop::load_peft_adapter(*base.model, root / "adapter").size() == 14);
  CHECK(engine::max_abs_diff(logits_of(*adapted.model), logits_of(*base.model)) == 0.0);

  // What it refuses, before the model changes.
  auto edit_config = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    const fs::path to = root / name;
    fs::create_directories(to);
    fs::copy_file(root / "adapter" / "adapter_model.safetensors", to / "adapter_model.safetensors");
    nlohmann::json c = engine::read_json_file(root / "adapter" / "adapter_config.json");
    edit(c);
    std::ofstream(to / "adapter_config.json") << c.dump();
    return to;
  };
  auto fresh = interop::load_hf_llama(kTiny);
  const Tensor before = logits_of(*fresh.model);
  std::string e = error_of([&] { interop::load_peft_adapter(*fresh.model, edit_config("dora", [](auto& c) { c["use_dora"] = true; })); });
  CHECK(has(e, "use_dora"));
  e = error_of([&] { interop::load_peft_adapter(*fresh.model, edit_config("rank", [](auto& c) { c["r"] = 8; })); });
  CHECK(has(e, "mis-shaped"));
  CHECK(has(e, "lora_A.weight"));
  e = error_of([&] {
    interop::load_peft_adapter(*fresh.model, edit_config("targets", [](auto& c) { c["target_modules"] = {"q_proj"}; }));
  });
  CHECK(has(e, "unexpected"));
  CHECK(has(e, "v_proj.lora_A.weight"));
  e = error_of([&] {
    interop::load_peft_adapter(*fresh.model, edit_config("regex", [](auto& c) { c["target_modules"] = ".*proj"; }));
  });
  CHECK(has(e, "target_modules"));
  CHECK(engine::max_abs_diff(before, logits_of(*fresh.model)) == 0.0);
  e = error_of([&] { interop::save_peft_adapter(*fresh.model, root / "none"); });
  CHECK(has(e, "no LoRA adapters"));
}

TEST_CASE("export: the packed deployed model round-trips with its codes and adapter, and bad layouts are refused") {
  const fs::path root = qs::test::temp_root("export_packed");
  auto model = interop::load_hf_llama(kTiny);
  pack(*model.model);
  interop::save_packed_llama(*model.model, model.info, root / "packed");
  const engine::SafetensorsCheckpoint ck(root / "packed");
  const auto& codes = ck.entry("model.layers.0.mlp.gate_proj.qweight");
  CHECK(codes.dtype == DType::u8);
  CHECK(codes.shape == engine::Shape{48, 16});  // 32 4-bit codes in 16 bytes per row
  CHECK(ck.entry("model.layers.0.mlp.gate_proj.scales").shape == engine::Shape{48, 2});
  CHECK(!ck.contains("model.layers.0.mlp.gate_proj.weight"));
  CHECK(!fs::exists(root / "packed" / "adapter_config.json"));
  auto back = interop::load_packed_llama(root / "packed");
  CHECK(engine::max_abs_diff(logits_of(*model.model), logits_of(*back.model)) == 0.0);
  CHECK(dynamic_cast<quant::QuantLinear&>(back.model->submodule("layers.1.attn.o_proj")).mode() ==
        quant::QuantMode::packed);

  // QSLAW's deployment: packed base plus an unmerged adapter beside it.
  adapt(*model.model);
  interop::save_packed_llama(*model.model, model.info, root / "adapted");
  CHECK(fs::exists(root / "adapted" / "adapter_model.safetensors"));
  auto adapted = interop::load_packed_llama(root / "adapted");
  CHECK(engine::max_abs_diff(logits_of(*model.model), logits_of(*adapted.model)) == 0.0);

  auto config = engine::read_json_file(root / "packed" / "config.json");
  config["quantization_config"]["bits"] = 5;
  std::ofstream(root / "packed" / "config.json") << config.dump();
  std::string e = error_of([&] { interop::load_packed_llama(root / "packed"); });
  CHECK(has(e, "quantization_config"));
  CHECK(has(e, "bits"));

  auto grid = interop::load_hf_llama(kTiny);
  quant::quantize_linears(*grid.model, {.bits = 4, .group_size = 16}, is_projection);
  e = error_of([&] { interop::save_packed_llama(*grid.model, grid.info, root / "grid"); });
  CHECK(has(e, "not packed"));
  auto plain = interop::load_hf_llama(kTiny);
  e = error_of([&] { interop::save_packed_llama(*plain.model, plain.info, root / "plain"); });
  CHECK(has(e, "no quantized linear"));
}

TEST_CASE("export: an adapter written from PEFT's definition gives the reference logits, adapted and merged") {
  const fs::path folder = fs::path(QS_FIXTURES) / "hf_llama" / "gqa_tied_f16_lora";
  const nlohmann::json ref = engine::read_json_file(folder / "reference.json");
  const auto ids = ref["ids"].get<std::vector<int64_t>>();
  std::vector<double> flat;
  for (const auto& row : ref["logits"]) {
    for (const auto& v : row) flat.push_back(v.get<double>());
  }
  const Tensor want = engine::from_vector(flat, {static_cast<int64_t>(ids.size()), 61});
  auto check = [&](nn::Llama& model) {
    model.eval();
    autograd::NoGrad no_grad;
    const Tensor got = model.forward(engine::from_vector(ids, {1, static_cast<int64_t>(ids.size())}))
                           .logits.data().select(0, 0).to(DType::f64);
    const double scale = engine::max(engine::abs(want)).item<double>();
    CHECK(engine::max_abs_diff(got, want) < 1e-4 * scale);
  };
  auto model = interop::load_hf_llama(kTiny);
  CHECK(interop::load_peft_adapter(*model.model, folder).size() == 6);
  check(*model.model);
  const fs::path root = qs::test::temp_root("export_peft_reference");
  interop::save_hf_llama(*model.model, model.info, root / "merged");
  check(*interop::load_hf_llama(root / "merged").model);
}
