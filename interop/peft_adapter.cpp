#include "interop/peft_adapter.h"

#include <cmath>
#include <map>
#include <set>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "nn/lora.h"
#include "quant/surgery.h"

namespace qs::interop {

namespace {

constexpr const char* kPrefix = "base_model.model.";

// PEFT's name of an adapter matrix: the wrapped linear's checkpoint name with
// ".weight" turned into ".lora_A.weight" / ".lora_B.weight".
std::string peft_name(const std::string& linear_path, const char* which, const HfLlamaLayout& layout) {
  std::string base = hf_llama_name(linear_path + ".weight", layout);
  base.resize(base.size() - std::string(".weight").size());
  return fmt::format("{}{}.{}.weight", kPrefix, base, which);
}

std::string leaf(const std::string& path) { return path.substr(path.rfind('.') + 1); }

}  // namespace

void save_peft_adapter(const nn::Llama& llm, const std::filesystem::path& folder, const PeftAdapterInfo& info,
                       const HfLlamaLayout& layout) {
  std::map<std::string, engine::Tensor> tensors;
  std::set<std::string> targets;
  int64_t rank = -1;
  double scaling = 0.0;
  for (const auto& [path, module] : llm.named_modules()) {
    const auto* lora = dynamic_cast<const nn::LoraLinear*>(module);
    if (lora == nullptr) continue;
    const int64_t r = lora->lora_a.size(0);
    if (rank < 0) {
      rank = r;
      scaling = lora->scaling;
    }
    QS_CHECK(r == rank && lora->scaling == scaling,
             "save_peft_adapter: {} has rank {} and scaling {}, others rank {} and scaling {}; PEFT's config holds one",
             path, r, lora->scaling, rank, scaling);
    tensors[peft_name(path, "lora_A", layout)] = lora->lora_a.data().to(engine::Device::cpu());
    tensors[peft_name(path, "lora_B", layout)] = lora->lora_b.data().to(engine::Device::cpu());
    targets.insert(leaf(path));
  }
  QS_CHECK(rank > 0, "save_peft_adapter: the model has no LoRA adapters");
  const nlohmann::json config = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", info.base_model},
      {"r", rank},
      {"lora_alpha", scaling * static_cast<double>(rank)},
      {"lora_dropout", info.dropout},
      {"target_modules", std::vector<std::string>(targets.begin(), targets.end())},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"use_rslora", false},
      {"use_dora", false},
      {"inference_mode", true},
      {"modules_to_save", nullptr},
  };
  std::filesystem::create_directories(folder);
  engine::save_safetensors(folder / "adapter_model.safetensors", tensors);
  engine::write_file_atomically(folder / "adapter_config.json", config.dump(2) + "\n");
}

std::vector<std::string> load_peft_adapter(nn::Llama& llm, const std::filesystem::path& folder,
                                           const HfLlamaLayout& layout) {
  const auto c = engine::JsonObject::read(folder / "adapter_config.json");
  QS_CHECK(c.string("peft_type") == "LORA", "{} is '{}'; only LoRA adapters load", c.at("peft_type"),
           c.string("peft_type"));
  QS_CHECK(!c.boolean_or("use_dora", false), "{} is true; DoRA adapters are not supported", c.at("use_dora"));
  QS_CHECK(!c.boolean_or("use_rslora", false), "{} is true; rank-stabilised scaling is not supported",
           c.at("use_rslora"));
  QS_CHECK(!c.boolean_or("fan_in_fan_out", false), "{} is true; LLaMA's linears are not transposed",
           c.at("fan_in_fan_out"));
  QS_CHECK(c.string_or("bias", "none") == "none", "{} is '{}'; adapters with biases are not supported", c.at("bias"),
           c.string_or("bias", "none"));
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    QS_CHECK(!c.has(key) || c.json()[key].empty(), "{} is set; per-layer ranks are not supported", c.at(key));
  }
  const int64_t rank = c.integer("r");
  QS_CHECK(rank > 0, "{} must be positive, got {}", c.at("r"), rank);
  const double alpha = c.number("lora_alpha");
  std::set<std::string> targets;
  const nlohmann::json& t = c.json().contains("target_modules") ? c.json()["target_modules"] : nlohmann::json();
  QS_CHECK(t.is_array() && !t.empty(), "{} must be a non-empty list of module names (a regular expression is not "
           "supported)", c.at("target_modules"));
  for (const auto& name : t) {
    QS_CHECK(name.is_string(), "{} holds {}, not a module name", c.at("target_modules"), name.dump());
    targets.insert(name.get<std::string>());
  }

  // Which of the model's linears the targets name, and the tensors that must
  // come with them, checked against the file before the model changes.
  std::vector<std::string> paths;
  for (const auto& [path, module] : llm.named_modules()) {
    if (dynamic_cast<nn::LinearLayer*>(module) != nullptr && !path.empty() && targets.count(leaf(path))) {
      paths.push_back(path);
    }
  }
  QS_CHECK(!paths.empty(), "{} names no linear layer of the model", c.at("target_modules"));
  const std::filesystem::path file = folder / "adapter_model.safetensors";
  const engine::SafetensorsFile weights(file);
  std::set<std::string> unexpected;
  for (const std::string& name : weights.names()) unexpected.insert(name);
  std::vector<std::string> missing, misshaped;
  for (const std::string& path : paths) {
    auto& layer = dynamic_cast<nn::LinearLayer&>(llm.submodule(path));
    for (auto [which, shape] : {std::pair{"lora_A", engine::Shape{rank, layer.in_features()}},
                                {"lora_B", engine::Shape{layer.out_features(), rank}}}) {
      const std::string name = peft_name(path, which, layout);
      if (!weights.contains(name)) {
        missing.push_back(name);
        continue;
      }
      unexpected.erase(name);
      if (weights.entry(name).shape != shape || !engine::is_floating(weights.entry(name).dtype)) {
        misshaped.push_back(fmt::format("{} ({} {}, expected f32 {})", name, weights.entry(name).file_dtype,
                                        engine::shape_str(weights.entry(name).shape), engine::shape_str(shape)));
      }
    }
  }
  QS_CHECK(missing.empty() && unexpected.empty() && misshaped.empty(),
           "loading the adapter {}: missing: [{}]; unexpected: [{}]; mis-shaped: [{}]", file.string(),
           fmt::join(missing, ", "), fmt::join(unexpected, ", "), fmt::join(misshaped, ", "));

  const std::set<std::string> chosen(paths.begin(), paths.end());
  const nn::LoraConfig config{.rank = rank, .alpha = alpha, .dropout = c.number_or("lora_dropout", 0.0)};
  quant::add_lora(llm, config, [&](const std::string& path) { return chosen.count(path) > 0; });
  for (const std::string& path : paths) {
    auto& lora = dynamic_cast<nn::LoraLinear&>(llm.submodule(path));
    engine::copy_(lora.lora_a.data(), weights.load(peft_name(path, "lora_A", layout), engine::DType::f32));
    engine::copy_(lora.lora_b.data(), weights.load(peft_name(path, "lora_B", layout), engine::DType::f32));
  }
  return paths;
}

}  // namespace qs::interop
