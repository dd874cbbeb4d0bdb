#include "cli/inspect.h"

#include <fmt/format.h>

#include <map>

#include "engine/io/json_file.h"
#include "engine/io/safetensors.h"
#include "engine/io/tensor_file.h"
#include "interop/hf_clip.h"
#include "interop/hf_llama.h"

namespace qs::cli {

namespace {

namespace fs = std::filesystem;

struct Row {
  std::string name, dtype;
  engine::Shape shape;
};

void print_rows(const std::vector<Row>& rows, bool all) {
  std::map<std::string, std::pair<int64_t, int64_t>> by_dtype;  // tensors, elements
  int64_t elements = 0;
  for (const Row& r : rows) {
    auto& [n, e] = by_dtype[r.dtype];
    ++n;
    e += engine::numel_of(r.shape);
    elements += engine::numel_of(r.shape);
  }
  fmt::print("{} tensors, {:.3f} M elements:", rows.size(), static_cast<double>(elements) / 1e6);
  for (const auto& [dtype, c] : by_dtype) fmt::print(" {} x {} ({:.3f} M)", c.first, dtype, static_cast<double>(c.second) / 1e6);
  fmt::print("\n");
  auto print = [](const Row& r) { fmt::print("  {:<60} {:<5} {}\n", r.name, r.dtype, engine::shape_str(r.shape)); };
  const bool cut = !all && rows.size() > 24;  // the first and last 12
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (cut && i == 12) {
      fmt::print("  ... {} more (--all lists them)\n", rows.size() - 24);
      i = rows.size() - 12;
    }
    print(rows[i]);
  }
}

// What config.json says the model is, as qslaw's readers parse it.
void print_config(const fs::path& folder) {
  if (!fs::exists(folder / "config.json")) return;
  const engine::JsonObject c = engine::JsonObject::read(folder / "config.json");
  const std::string type = c.string_or("model_type", "?");
  fmt::print("config.json: model_type {}\n", type);
  auto llama = [](const interop::HfLlama& h, const char* what) {
    const nn::LlamaConfig& m = h.config;
    fmt::print("  {}: LLaMA, {} layers, hidden {}, {} heads ({} key/value), FFN {}, vocabulary {}, RoPE theta {} (linear scaling {}), tied {}\n",
               what, m.n_layers, m.dim, m.n_heads, m.n_kv_heads, m.hidden(), m.vocab_size, m.rope_theta,
               m.rope_linear_factor, h.tie_word_embeddings);
  };
  auto clip = [](const vision::VitConfig& v, const char* what) {
    fmt::print("  {}: CLIP vision, {} layers, width {}, {} heads, image {} / patch {} ({} patches), {}\n", what,
               v.layers, v.width, v.heads, v.image_size, v.patch_size, v.patches(), v.quick_gelu ? "quick_gelu" : "gelu");
  };
  if (type == "llama") {
    llama(interop::read_hf_llama_config(c), "model");
    if (c.has("quantization_config")) {
      const engine::JsonObject q = c.object("quantization_config");
      fmt::print("  quantized: {} ({}-bit, groups of {}, {} linears)\n", q.string_or("quant_method", "?"),
                 q.integer_or("bits", 0), q.integer_or("group_size", 0),
                 q.has("modules") ? q.array("modules").size() : std::size_t{0});
    }
    if (fs::exists(folder / "adapter_config.json")) {
      const engine::JsonObject a = engine::JsonObject::read(folder / "adapter_config.json");
      fmt::print("  with a {} adapter beside it: rank {}, alpha {}, on {}\n", a.string_or("peft_type", "?"),
                 a.integer_or("r", 0), a.number_or("lora_alpha", 0.0),
                 a.has("target_modules") ? a.json()["target_modules"].dump() : "?");
    }
    if (c.has("mm_projector_type")) {
      fmt::print("  the original LLaVA layout: projector {}, vision tower '{}' (a separate checkpoint)\n",
                 c.string("mm_projector_type"), c.string_or("mm_vision_tower", "?"));
    }
  } else if (type == "llava") {
    llama(interop::read_hf_llama_config(c.object("text_config")), "language model");
    clip(interop::read_hf_clip_vision_config(c.object("vision_config")), "vision tower");
  } else if (type == "clip_vision_model" || type == "clip") {
    clip(interop::read_hf_clip_vision_config(c.has("vision_config") ? c.object("vision_config") : c), "vision tower");
  }
}

}  // namespace

int inspect(const fs::path& path, bool all) {
  std::vector<Row> rows;
  if (path.extension() == ".h5") {
    const engine::TensorFile f = engine::load_tensor_file(path);
    fmt::print("{}: qslaw tensor file, attributes:", path.string());
    for (const auto& [k, v] : f.attributes) fmt::print(" {}", k);
    fmt::print("\n");
    for (const auto& [name, t] : f.tensors) rows.push_back({name, std::string(engine::dtype_name(t.dtype())), t.shape()});
  } else {
    const engine::SafetensorsCheckpoint ck(path);
    fmt::print("{}\n", ck.path().string());
    if (fs::is_directory(path)) print_config(path);
    for (const std::string& name : ck.names()) {
      const engine::SafetensorsEntry& e = ck.entry(name);
      rows.push_back({name, e.file_dtype, e.shape});
    }
  }
  print_rows(rows, all);
  return 0;
}

}  // namespace qs::cli
