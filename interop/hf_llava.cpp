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

}  // namespace

LlavaConfigs read_llava_configs(const std::filesystem::path& folder, const std::filesystem::path& clip_folder) {
  const JsonObject c = JsonObject::read(folder / "config.json");
  LlavaConfigs out;
  if (clip_folder.empty()) {
    QS_CHECK(c.has("text_config") && c.has("vision_config"),
             "{}: not a llava-hf config (no text_config and vision_config); a checkpoint of the original LLaVA "
             "repository needs its CLIP vision tower's folder too",
             c.where());
    out.text = read_hf_llama_config(c.object("text_config"));
    out.text.tie_word_embeddings = c.boolean_or("tie_word_embeddings", out.text.tie_word_embeddings);
    out.vision = read_hf_clip_vision_config(c.object("vision_config"));
    select_features(out.vision, c.integer_or("vision_feature_layer", -2),
                    c.string_or("vision_feature_select_strategy", "default"), c, "vision_feature_select_strategy");
    check_projector_act(c, "projector_hidden_act", c.string_or("projector_hidden_act", "gelu"));
    out.projector = {.type = "mlp2x_gelu", .in = out.vision.width, .out = out.text.config.dim};
    out.image_token_id = c.integer_or("image_token_index", 32000);
    QS_CHECK(out.image_token_id >= 0 && out.image_token_id < out.text.config.vocab_size,
             "{} {} is outside the vocabulary of {}", c.at("image_token_index"), out.image_token_id,
             out.text.config.vocab_size);
    return out;
  }
  // The original repository: a LLaMA config with mm_* keys.
  out.text = read_hf_llama_config(c);
  const JsonObject clip_config = JsonObject::read(clip_folder / "config.json");
  out.vision = read_hf_clip_vision_config(clip_config.has("vision_config") ? clip_config.object("vision_config")
                                                                           : clip_config);
  select_features(out.vision, c.integer_or("mm_vision_select_layer", -2),
                  c.string_or("mm_vision_select_feature", "patch"), c, "mm_vision_select_feature");
  const std::string type = c.string_or("mm_projector_type", "linear");
  QS_CHECK(type == "linear" || type == "mlp2x_gelu", "{} is '{}'; 'linear' and 'mlp2x_gelu' are supported",
           c.at("mm_projector_type"), type);
  QS_CHECK(c.integer_or("mm_hidden_size", out.vision.width) == out.vision.width,
           "{} is {} but the vision tower in {} is {} wide", c.at("mm_hidden_size"), c.integer("mm_hidden_size"),
           clip_folder.string(), out.vision.width);
  out.projector = {.type = type, .in = out.vision.width, .out = out.text.config.dim};
  // The repository splices at IMAGE_TOKEN_INDEX (-200), not an embedding
  // row; here the prompt marks the image with <unk> (id 0) tokens.
  out.image_token_id = 0;
  return out;
}

LlavaConfigs assembled_llava_configs(const std::filesystem::path& llm_folder, const std::filesystem::path& clip_folder,
                                     const nn::ProjectorConfig& projector) {
  LlavaConfigs out;
  out.text = read_hf_llama_config(JsonObject::read(llm_folder / "config.json"));
  const JsonObject clip = JsonObject::read(clip_folder / "config.json");
  out.vision = read_hf_clip_vision_config(clip.has("vision_config") ? clip.object("vision_config") : clip);
  out.vision.select_layer = -2;
  out.vision.select_class_token = false;
  QS_CHECK(projector.type == "linear" || projector.type == "mlp2x_gelu",
           "assembled LLaVA: projector '{}' is neither linear nor mlp2x_gelu", projector.type);
  out.projector = projector;
  out.projector.in = out.vision.width;
  out.projector.out = out.text.config.dim;
  out.image_token_id = 0;
  return out;
}

LoadedLlava assemble_llava(const std::filesystem::path& llm_folder, const std::filesystem::path& clip_folder,
                           const nn::ProjectorConfig& projector) {
  const LlavaConfigs configs = assembled_llava_configs(llm_folder, clip_folder, projector);
  LoadedLlama llm = load_hf_llama(llm_folder);
  auto vit = load_hf_clip_vision(clip_folder, configs.vision.select_layer, configs.vision.select_class_token);
  LoadedLlava out{llm.info, std::make_shared<nn::Llava>(vit, configs.projector, llm.model)};
  out.model->image_token_id = configs.image_token_id;
  return out;
}

LoadedLlava load_llava(const std::filesystem::path& folder, const std::filesystem::path& clip_folder) {
  const LlavaConfigs configs = read_llava_configs(folder, clip_folder);
  const engine::SafetensorsCheckpoint checkpoint(folder);
  LoadedLlava out{configs.text, nullptr};
  auto vit = std::make_shared<vision::VisionTransformer>(configs.vision);
  auto llm = std::make_shared<nn::Llama>(configs.text.config, nullptr, /*random_init=*/false);
  out.model = std::make_shared<nn::Llava>(vit, configs.projector, llm);
  out.model->image_token_id = configs.image_token_id;
  const HfLlama& text = configs.text;
  const vision::VitConfig& v = configs.vision;
  if (clip_folder.empty()) {
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
  // The LLM's checkpoint also holds the projector (model.mm_projector.*),
  // which the LLaMA source must not call unexpected.
  CheckpointSource llm_source = hf_llama_source(checkpoint, text);
  for (const std::string& n : checkpoint.names()) {
    if (starts_with(n, "model.mm_projector.") || starts_with(n, "model.vision_tower.")) llm_source.skip(n);
  }
  out.model->llm().load_state(llm_source.under(""));
  const engine::SafetensorsCheckpoint clip_checkpoint(clip_folder);
  out.model->vision().load_state(hf_clip_source(clip_checkpoint, v).under(""));
  CheckpointSource proj(checkpoint, [](const std::string& n) { return starts_with(n, "model.mm_projector."); });
  for (const char* part : {"weight", "bias"}) {
    proj.map(fmt::format("fc1.{}", part), fmt::format("model.mm_projector.0.{}", part));
    if (configs.projector.type == "mlp2x_gelu") proj.map(fmt::format("fc2.{}", part), fmt::format("model.mm_projector.2.{}", part));
  }
  out.model->projector().load_state(proj.under(""));
  return out;
}

}  // namespace qs::interop
