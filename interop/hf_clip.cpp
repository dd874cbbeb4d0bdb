#include "interop/hf_clip.h"

#include "engine/error.h"

namespace qs::interop {

namespace {

struct Rename {
  const char* ours;
  const char* theirs;
};
constexpr Rename kBlockNames[] = {
    {"attn_norm.weight", "layer_norm1.weight"},    {"attn_norm.bias", "layer_norm1.bias"},
    {"attn.q_proj.weight", "self_attn.q_proj.weight"}, {"attn.q_proj.bias", "self_attn.q_proj.bias"},
    {"attn.k_proj.weight", "self_attn.k_proj.weight"}, {"attn.k_proj.bias", "self_attn.k_proj.bias"},
    {"attn.v_proj.weight", "self_attn.v_proj.weight"}, {"attn.v_proj.bias", "self_attn.v_proj.bias"},
    {"attn.o_proj.weight", "self_attn.out_proj.weight"}, {"attn.o_proj.bias", "self_attn.out_proj.bias"},
    {"mlp_norm.weight", "layer_norm2.weight"},     {"mlp_norm.bias", "layer_norm2.bias"},
    {"mlp.fc1.weight", "mlp.fc1.weight"},          {"mlp.fc1.bias", "mlp.fc1.bias"},
    {"mlp.fc2.weight", "mlp.fc2.weight"},          {"mlp.fc2.bias", "mlp.fc2.bias"},
};
constexpr Rename kTopNames[] = {
    {"patch_embed.weight", "embeddings.patch_embedding.weight"},
    {"class_embedding", "embeddings.class_embedding"},
    {"position_embedding", "embeddings.position_embedding.weight"},
    {"pre_norm.weight", "pre_layrnorm.weight"},  // sic: transformers' spelling
    {"pre_norm.bias", "pre_layrnorm.bias"},
    {"post_norm.weight", "post_layernorm.weight"},
    {"post_norm.bias", "post_layernorm.bias"},
};

}  // namespace

vision::VitConfig read_hf_clip_vision_config(const engine::JsonObject& c) {
  vision::VitConfig v;
  v.width = c.integer_or("hidden_size", 768);
  v.layers = c.integer_or("num_hidden_layers", 12);
  v.heads = c.integer_or("num_attention_heads", 12);
  v.image_size = c.integer_or("image_size", 224);
  v.patch_size = c.integer_or("patch_size", 32);
  const int64_t intermediate = c.integer_or("intermediate_size", 3072);
  for (auto [key, value] : {std::pair{"hidden_size", v.width}, {"num_hidden_layers", v.layers},
                            {"num_attention_heads", v.heads}, {"image_size", v.image_size},
                            {"patch_size", v.patch_size}, {"intermediate_size", intermediate}}) {
    QS_CHECK(value > 0, "{} must be positive, got {}", c.at(key), value);
  }
  QS_CHECK(c.integer_or("num_channels", 3) == 3, "{} must be 3 (RGB)", c.at("num_channels"));
  QS_CHECK(v.width % v.heads == 0, "{}: hidden_size {} does not split into {} heads", c.where(), v.width, v.heads);
  QS_CHECK(v.image_size % v.patch_size == 0, "{}: image_size {} is not a multiple of patch_size {}", c.where(),
           v.image_size, v.patch_size);
  QS_CHECK(intermediate % v.width == 0, "{}: intermediate_size {} must be a multiple of hidden_size {}", c.where(),
           intermediate, v.width);
  v.mlp_ratio = intermediate / v.width;
  const std::string act = c.string_or("hidden_act", "quick_gelu");
  QS_CHECK(act == "quick_gelu" || act == "gelu", "{} is '{}'; 'quick_gelu' and 'gelu' are supported",
           c.at("hidden_act"), act);
  v.quick_gelu = act == "quick_gelu";
  const double eps = c.number_or("layer_norm_eps", 1e-5);
  QS_CHECK(std::abs(eps - 1e-5) < 1e-12, "{} is {}; the vision tower's LayerNorms use 1e-5", c.at("layer_norm_eps"),
           eps);
  v.init_std = c.number_or("initializer_range", 0.02);
  return v;
}

std::string hf_clip_name(const std::string& name, const std::string& prefix) {
  for (const Rename& r : kTopNames) {
    if (name == r.ours) return prefix + r.theirs;
  }
  if (name.compare(0, 7, "layers.") == 0) {
    const std::size_t dot = name.find('.', 7);
    if (dot != std::string::npos) {
      const std::string inner = name.substr(dot + 1);
      for (const Rename& r : kBlockNames) {
        if (inner == r.ours) return prefix + "encoder." + name.substr(0, dot + 1) + r.theirs;
      }
    }
  }
  fail("hf_clip_name: '{}' is not a parameter of the vision tower that a Hugging Face checkpoint holds", name);
}

CheckpointSource hf_clip_source(const engine::SafetensorsCheckpoint& checkpoint, const vision::VitConfig& config,
                                const std::string& prefix) {
  CheckpointSource source(checkpoint, [&](const std::string& hf) { return hf.compare(0, prefix.size(), prefix) == 0; });
  for (const Rename& r : kTopNames) {
    // The patch convolution (W, 3, p, p) is our patch matrix (W, 3 p p):
    // patchify orders a patch's values channel, row, column, as the kernel does.
    const bool patch = std::string(r.ours) == "patch_embed.weight";
    source.map(r.ours, prefix + r.theirs,
               patch ? engine::Shape{config.width, 3 * config.patch_size * config.patch_size} : engine::Shape{});
  }
  for (int64_t i = 0; i < config.layers; ++i) {
    for (const Rename& r : kBlockNames) {
      const std::string ours = fmt::format("layers.{}.{}", i, r.ours);
      source.map(ours, hf_clip_name(ours, prefix));
    }
  }
  source.skip(prefix + "embeddings.position_ids");  // a buffer of 0..N
  return source;
}

std::shared_ptr<vision::VisionTransformer> load_hf_clip_vision(const std::filesystem::path& folder,
                                                               int64_t select_layer, bool select_class_token) {
  const engine::JsonObject config = engine::JsonObject::read(folder / "config.json");
  vision::VitConfig c = read_hf_clip_vision_config(config.has("vision_config") ? config.object("vision_config") : config);
  c.select_layer = select_layer;
  c.select_class_token = select_class_token;
  auto vit = std::make_shared<vision::VisionTransformer>(c);
  const engine::SafetensorsCheckpoint checkpoint(folder);
  vit->load_state(hf_clip_source(checkpoint, c).under(""));
  return vit;
}

}  // namespace qs::interop
