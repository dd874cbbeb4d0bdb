#include "interop/packed_llama.h"

#include <set>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "interop/merged_weights.h"
#include "interop/peft_adapter.h"
#include "nn/lora.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"

namespace qs::interop {

namespace {

// Our names of a packed layer's state against the checkpoint's suffixes.
constexpr std::pair<const char*, const char*> kPackedParts[] = {
    {"qweight", "qweight"}, {"scale", "scales"}, {"zero", "zeros"}};

std::string without_weight(const std::string& hf_weight_name) {
  return hf_weight_name.substr(0, hf_weight_name.size() - std::string(".weight").size());
}

}  // namespace

void save_packed_llama(const nn::Llama& model, const HfLlama& info, const std::filesystem::path& folder,
                       engine::DType dtype) {
  QS_CHECK(dtype == engine::DType::f32 || dtype == engine::DType::bf16 || dtype == engine::DType::f16,
           "save_packed_llama: full-precision tensors are written as f32, bf16 or f16, not {}",
           engine::dtype_name(dtype));
  std::map<std::string, engine::Tensor> tensors;
  auto host = [](const engine::Tensor& t) { return t.to(engine::Device::cpu()); };
  int64_t bits = -1, group_size = -1;
  std::vector<std::string> quantized;
  bool adapted = false;
  const auto linears = outermost_linears(model);
  for (const auto& [path, outer] : linears) {
    const nn::LinearLayer* layer = outer;
    if (const auto* lora = dynamic_cast<const nn::LoraLinear*>(layer)) {
      layer = &lora->base();  // the adapter goes to PEFT's files
      adapted = true;
    }
    const std::string name = without_weight(hf_llama_name(path + ".weight"));
    if (engine::Tensor bias = linear_bias(*layer); bias.defined()) tensors[name + ".bias"] = host(bias).to(dtype);
    if (const auto* q = dynamic_cast<const quant::QuantLinear*>(layer)) {
      QS_CHECK(q->mode() == quant::QuantMode::packed,
               "save_packed_llama: {} is not packed yet (QuantLinear::to_real folds alpha into its codes)", path);
      if (bits < 0) {
        bits = q->spec().bits;
        group_size = q->spec().group_size;
      }
      QS_CHECK(q->spec().bits == bits && q->spec().group_size == group_size,
               "save_packed_llama: {} is {}-bit in groups of {}, other layers {}-bit in groups of {}", path,
               q->spec().bits, q->spec().group_size, bits, group_size);
      const auto state = q->state_dict();
      for (auto [ours, theirs] : kPackedParts) tensors[name + "." + theirs] = host(state.at(ours));
      quantized.push_back(name);
    } else {
      const auto* plain = dynamic_cast<const nn::Linear*>(layer);
      QS_CHECK(plain != nullptr,
               "save_packed_llama: {} is neither a packed QuantLinear nor a plain Linear (NF4?); save_hf_llama exports "
               "it dequantized",
               path);
      tensors[name + ".weight"] = host(plain->weight.data()).to(dtype);
    }
  }
  QS_CHECK(!quantized.empty(), "save_packed_llama: the model has no quantized linear; save_hf_llama writes it");
  for (const auto& [name, p] : model.named_parameters()) {
    bool in_linear = false;
    for (const auto& [path, layer] : linears) in_linear = in_linear || is_below(name, path);
    if (!in_linear) tensors[hf_llama_name(name)] = host(p.data()).to(dtype);
  }
  const bool tied = tensors.count("lm_head.weight") &&
                    engine::equal(tensors.at("lm_head.weight"), tensors.at("model.embed_tokens.weight"));
  if (tied) tensors.erase("lm_head.weight");
  nlohmann::json config = hf_llama_config_json(model.config(), info, dtype, tied);
  config["quantization_config"] = {
      {"quant_method", "qslaw"}, {"bits", bits}, {"group_size", group_size}, {"modules", quantized}};
  std::filesystem::create_directories(folder);
  engine::save_safetensors_checkpoint(folder, tensors, uint64_t{5} << 30);
  engine::write_file_atomically(folder / "config.json", config.dump(2) + "\n");
  if (adapted) {
    save_peft_adapter(model, folder);
  } else {
    // A stale adapter from an earlier export must not attach itself on load.
    std::filesystem::remove(folder / "adapter_config.json");
    std::filesystem::remove(folder / "adapter_model.safetensors");
  }
}

LoadedLlama load_packed_llama(const std::filesystem::path& folder) {
  const auto config = engine::JsonObject::read(folder / "config.json");
  LoadedLlama out;
  out.info = read_hf_llama_config(config);
  const engine::JsonObject q = config.object("quantization_config");
  QS_CHECK(q.string("quant_method") == "qslaw", "{} is '{}'; this reader takes qslaw's packed layout",
           q.at("quant_method"), q.string("quant_method"));
  const quant::QuantSpec spec{.bits = static_cast<int>(q.integer("bits")), .group_size = q.integer("group_size")};
  try {
    spec.check();
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: {}", q.where(), e.what()));
  }
  std::set<std::string> quantized;
  for (const auto& m : q.array("modules")) {
    QS_CHECK(m.is_string(), "{} holds {}, not a module name", q.at("modules"), m.dump());
    quantized.insert(m.get<std::string>());
  }

  const engine::SafetensorsCheckpoint checkpoint(folder);
  CheckpointSource source = hf_llama_source(checkpoint, out.info);
  std::set<std::string> listed;  // our paths of the quantized linears
  for (int64_t i = 0; i < out.info.config.n_layers; ++i) {
    for (const char* linear : {"attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.o_proj", "mlp.gate_proj",
                               "mlp.up_proj", "mlp.down_proj"}) {
      const std::string path = fmt::format("layers.{}.{}", i, linear);
      const std::string name = without_weight(hf_llama_name(path + ".weight"));
      if (!quantized.count(name)) continue;
      listed.insert(path);
      quantized.erase(name);
      for (auto [ours, theirs] : kPackedParts) source.map(path + "." + ours, name + "." + theirs);
    }
  }
  QS_CHECK(quantized.empty(), "{} names modules that are not LLaMA block linears: {}", q.at("modules"),
           fmt::join(quantized, ", "));
  auto on_block = [&](int64_t i, nn::Module& block) {
    const std::string prefix = fmt::format("layers.{}.", i);
    const auto is_quantized = [&](const std::string& path) { return listed.count(prefix + path) > 0; };
    for (const std::string& path : quant::quantize_linears(block, spec, is_quantized)) {
      dynamic_cast<quant::QuantLinear&>(block.submodule(path)).to_real();
    }
    block.load_state(source.under(prefix));
  };
  out.model = std::make_shared<nn::Llama>(out.info.config, on_block, /*random_init=*/false);
  for (const char* top : {"embed_tokens", "norm", "lm_head"}) {
    out.model->submodule(top).load_state(source.under(std::string(top) + "."));
  }
  const std::vector<std::string> unused = source.unused();
  QS_CHECK(unused.empty(), "loading {}: unexpected: {}", checkpoint.path().string(), fmt::join(unused, ", "));
  if (std::filesystem::exists(folder / "adapter_config.json")) load_peft_adapter(*out.model, folder);
  return out;
}

}  // namespace qs::interop
