#pragma once
// Hugging Face CLIP vision towers (CLIPVisionModel, or the vision half of a
// CLIPModel or a LLaVA checkpoint) into vision::VisionTransformer: bias-free
// patch convolution, class token, learned positions, pre_layrnorm, pre-LN
// blocks with biased attention and a (quick) GELU MLP, post_layernorm.
#include <filesystem>
#include <memory>
#include <string>

#include "engine/io/json_file.h"
#include "interop/checkpoint_source.h"
#include "vision/vit.h"

namespace qs::interop {

// Parses a CLIPVisionConfig: a CLIPVisionModel's config.json, or the
// "vision_config" object of a CLIP or LLaVA config. Feature selection (which
// layer, whether the class token stays) is LLaVA's and set by the caller.
vision::VitConfig read_hf_clip_vision_config(const engine::JsonObject& config);

// The checkpoint's name for a VisionTransformer parameter under `prefix`
// ("vision_model." in CLIPVisionModel, "vision_tower.vision_model." in llava-hf).
std::string hf_clip_name(const std::string& name, const std::string& prefix = "vision_model.");

CheckpointSource hf_clip_source(const engine::SafetensorsCheckpoint& checkpoint, const vision::VitConfig& config,
                                const std::string& prefix = "vision_model.");

// A folder with config.json and the weights; select_layer and
// select_class_token as LLaVA's vision_feature_layer and strategy say.
std::shared_ptr<vision::VisionTransformer> load_hf_clip_vision(const std::filesystem::path& folder,
                                                               int64_t select_layer = -2,
                                                               bool select_class_token = false);

}  // namespace qs::interop
