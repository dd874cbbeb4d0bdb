#include "interop/quantized_llama.h"

#include <regex>

#include "engine/cpu/host_allocator.h"
#include "engine/error.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"

namespace qs::interop {

LoadedLlama load_hf_llama_quantized(const std::filesystem::path& folder, const QuantizeOnLoad& options) {
  if (options.kind == QuantizeOnLoad::Kind::minmax) options.spec.check();
  LoadedLlama out;
  out.info = read_hf_llama_config(engine::JsonObject::read(folder / "config.json"));
  const engine::SafetensorsCheckpoint checkpoint(folder);
  CheckpointSource source = hf_llama_source(checkpoint, out.info);
  const std::regex pattern(options.select);
  const nn::PathFilter select = [&](const std::string& path) { return std::regex_match(path, pattern); };
  // Each block is filled from the checkpoint and its linears swapped for
  // quantized ones before the next block is built.
  auto on_block = [&](int64_t i, nn::Module& block) {
    block.load_state(source.under(fmt::format("layers.{}.", i)));
    // One linear at a time, so only one layer's quantization temporaries
    // (codes before packing) exist at once.
    std::vector<std::string> paths;
    for (const auto& [path, module] : block.named_modules()) {
      if (dynamic_cast<nn::Linear*>(module) != nullptr && select(path)) paths.push_back(path);
    }
    for (const std::string& path : paths) {
      const nn::PathFilter only = [&](const std::string& p) { return p == path; };
      if (options.kind == QuantizeOnLoad::Kind::nf4) {
        quant::nf4_linears(block, options.nf4_block, true, only);
      } else {
        quant::quantize_linears(block, options.spec, only);
        dynamic_cast<quant::QuantLinear&>(block.submodule(path)).to_real();
      }
    }
    // The block's f32 weights and the temporaries are free now; the tensor
    // cache would keep them resident (temporaries of every shape pile up), so
    // they go back to the system and memory tracks the quantized model.
    engine::cpu::host_release_cached();
  };
  out.model = std::make_shared<nn::Llama>(out.info.config, on_block, /*random_init=*/false);
  for (const char* top : {"embed_tokens", "norm", "lm_head"}) {
    out.model->submodule(top).load_state(source.under(std::string(top) + "."));
  }
  const std::vector<std::string> unused = source.unused();
  QS_CHECK(unused.empty(), "loading {}: unexpected: {}", checkpoint.path().string(),
           fmt::join(unused, ", "));
  return out;
}

}  // namespace qs::interop
