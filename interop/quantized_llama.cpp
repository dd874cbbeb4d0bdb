#include "interop/quantized_llama.h"

#include <map>
#include <memory>
#include <regex>

#include "engine/cpu/host_allocator.h"
#include "engine/error.h"
#include "engine/io/tensor_file.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"

namespace qs::interop {

namespace {

// A grid file's scale/zero tensors, read on demand.
class GridFile {
 public:
  explicit GridFile(const std::filesystem::path& path) : path_(path) {
    if (path.extension() == ".h5") {
      for (auto& [name, t] : engine::load_tensor_file(path).tensors) {
        if (name.ends_with(".scale") || name.ends_with(".zero")) h5_[name] = t;
      }
    } else {
      safetensors_ = std::make_unique<engine::SafetensorsFile>(path);
    }
  }

  // The grid of the layer at `path`, checked against the layer's shape.
  quant::GroupParams grid(const std::string& path, const engine::Shape& shape) const {
    quant::GroupParams g{read(path + ".scale", shape), read(path + ".zero", shape)};
    return g;
  }

 private:
  engine::Tensor read(const std::string& name, const engine::Shape& shape) const {
    engine::Tensor t;
    if (safetensors_) {
      QS_CHECK(safetensors_->contains(name), "{}: no tensor '{}' (the grid must cover every quantized layer)",
               path_.string(), name);
      t = safetensors_->load(name, engine::DType::f32);
    } else {
      QS_CHECK(h5_.count(name), "{}: no tensor '{}' (the grid must cover every quantized layer)", path_.string(), name);
      t = h5_.at(name).to(engine::DType::f32);
    }
    QS_CHECK(t.shape() == shape, "{}: '{}' is {}, but the layer's grid is {} (other bits or group size?)",
             path_.string(), name, engine::shape_str(t.shape()), engine::shape_str(shape));
    return t;
  }

  std::filesystem::path path_;
  std::map<std::string, engine::Tensor> h5_;
  std::unique_ptr<engine::SafetensorsFile> safetensors_;
};

}  // namespace

LoadedLlama load_hf_llama_quantized(const std::filesystem::path& folder, const QuantizeOnLoad& options) {
  if (options.kind == QuantizeOnLoad::Kind::minmax) options.spec.check();
  QS_CHECK(options.grid_file.empty() || options.kind == QuantizeOnLoad::Kind::minmax,
           "quantize on load: a grid file sets uniform grids; NF4 has none");
  const std::unique_ptr<GridFile> grids =
      options.grid_file.empty() ? nullptr : std::make_unique<GridFile>(options.grid_file);
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
        auto& q = dynamic_cast<quant::QuantLinear&>(block.submodule(path));
        if (grids) q.set_grid(grids->grid(fmt::format("layers.{}.{}", i, path), q.grid().scale.shape()));
        q.to_real();
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
