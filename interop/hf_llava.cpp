#include "interop/hf_llava.h"

#include "engine/error.h"

namespace qs::interop {

namespace {

using engine::JsonObject;

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// vision_feature_layer / mm_vision_select_layer and the feature strategy.
void select_features(vision::VitConfig& v, int64_t layer, const std::string& strategy, const JsonObject& c,
                     const char* strategy_key) {
  QS_CHECK(layer >= -v.layers - 1 && layer <= v.layers, "{}: the feature layer {} is outside the tower's {} layers",
           c.where(), layer, v.layers);
  QS_CHECK(strategy == "default" || strategy == "full" || strategy == "patch" || strategy == "cls_patch",
           "{} is '{}'; expected 'default' or 'full'", c.at(strategy_key), strategy);
  v.select_layer = layer;
  v.select_class_token = strategy == "full" || strategy == "cls_patch";
}

void check_projector_act(const JsonObject& c, const char* key, const std::string& act) {
  QS_CHECK(act == "gelu", "{} is '{}'; the projector computes GELU (erf)", c.at(key), act);
}

LoadedLlava assemble(const HfLlama& text, const vision::VitConfig& vision_config, const nn::ProjectorConfig& projector,
                     int64_t image_token_id) {
  LoadedLlava out{text, nullptr};
  auto vit = std::make_shared<vision::VisionTransformer>(vision_config);
  auto llm = std::make_shared<nn::Llama>(text.config, nullptr, /*random_init=*/false);
  out.model = std::make_shared<nn::Llava>(vit, projector, llm);
  out.model->image_token_id = image_token_id;
  return out;
}

}  // namespace

LoadedLlava load_llava(const std::filesystem::path& folder, const std::filesystem::path& clip_folder) {
  const JsonObject c = JsonObject::read(folder / "config.json");
  const engine::SafetensorsCheckpoint checkpoint(folder);
  if (clip_folder.empty()) {
    QS_CHECK(c.has("text_config") && c.has("vision_config"),
             "{}: not a llava-hf config (no text_config and vision_config); a checkpoint of the original LLaVA "
             "repository needs its CLIP vision tower's folder too",
             c.where());
    HfLlama text = read_hf_llama_config(c.object("text_config"));
    text.tie_word_embeddings = c.boolean_or("tie_word_embeddings", text.tie_word_embeddings);
    vision::VitConfig v = read_hf_clip_vision_config(c.object("vision_config"));
    select_features(v, c.integer_or("vision_feature_layer", -2), c.string_or("vision_feature_select_strategy", "default"),
                    c, "vision_feature_select_strategy");
    check_projector_act(c, "projector_hidden_act", c.string_or("projector_hidden_act", "gelu"));
    const nn::ProjectorConfig projector{.type = "mlp2x_gelu", .in = v.width, .out = text.config.dim};
    LoadedLlava out = assemble(text, v, projector, c.integer_or("image_token_index", 32000));
    QS_CHECK(out.model->image_token_id >= 0 && out.model->image_token_id < text.config.vocab_size,
             "{} {} is outside the vocabulary of {}", c.at("image_token_index"), out.model->image_token_id,
             text.config.vocab_size);
    // transformers >= 4.52 nests the parts under model.; older ones do not.
    const bool nested = checkpoint.contains("model.language_model.embed_tokens.weight");
    const std::string root = nested ? "model." : "";
    const HfLlamaLayout layout{.body = nested ? "model.language_model." : "language_model.model.",
                               .head = nested ? "" : "language_model."};
    out.model->llm().load_state(hf_llama_source(checkpoint, text, layout).under(""));
    out.model->vision().load_state(hf_clip_source(checkpoint, v, root + "vision_tower.vision_model.").under(""));
    CheckpointSource proj(checkpoint,
                          [&](const std::string& n) { return starts_with(n, root + "multi_modal_projector."); });
    for (const char* part : {"weight", "bias"}) {
      proj.map(fmt::format("fc1.{}", part), fmt::format("{}multi_modal_projector.linear_1.{}", root, part));
      proj.map(fmt::format("fc2.{}", part), fmt::format("{}multi_modal_projector.linear_2.{}", root, part));
    }
    out.model->projector().load_state(proj.under(""));
    return out;
  }
  // The original repository: a LLaMA config with mm_* keys.
  HfLlama text = read_hf_llama_config(c);
  const JsonObject clip_config = JsonObject::read(clip_folder / "config.json");
  vision::VitConfig v = read_hf_clip_vision_config(
      clip_config.has("vision_config") ? clip_config.object("vision_config") : clip_config);
  select_features(v, c.integer_or("mm_vision_select_layer", -2), c.string_or("mm_vision_select_feature", "patch"), c,
                  "mm_vision_select_feature");
  const std::string type = c.string_or("mm_projector_type", "linear");
  QS_CHECK(type == "linear" || type == "mlp2x_gelu", "{} is '{}'; 'linear' and 'mlp2x_gelu' are supported",
           c.at("mm_projector_type"), type);
  QS_CHECK(c.integer_or("mm_hidden_size", v.width) == v.width, "{} is {} but the vision tower in {} is {} wide",
           c.at("mm_hidden_size"), c.integer("mm_hidden_size"), clip_folder.string(), v.width);
  const nn::ProjectorConfig projector{.type = type, .in = v.width, .out = text.config.dim};
  LoadedLlava out = assemble(text, v, projector, 0);
  // The LLM's checkpoint also holds the projector (model.mm_projector.*),
  // which the LLaMA source must not call unexpected.
  CheckpointSource llm = hf_llama_source(checkpoint, text);
  for (const std::string& n : checkpoint.names()) {
    if (starts_with(n, "model.mm_projector.") || starts_with(n, "model.vision_tower.")) llm.skip(n);
  }
  out.model->llm().load_state(llm.under(""));
  const engine::SafetensorsCheckpoint clip_checkpoint(clip_folder);
  out.model->vision().load_state(hf_clip_source(clip_checkpoint, v).under(""));
  CheckpointSource proj(checkpoint, [](const std::string& n) { return starts_with(n, "model.mm_projector."); });
  for (const char* part : {"weight", "bias"}) {
    proj.map(fmt::format("fc1.{}", part), fmt::format("model.mm_projector.0.{}", part));
    if (type == "mlp2x_gelu") proj.map(fmt::format("fc2.{}", part), fmt::format("model.mm_projector.2.{}", part));
  }
  out.model->projector().load_state(proj.under(""));
  return out;
}

}  // namespace qs::interop
