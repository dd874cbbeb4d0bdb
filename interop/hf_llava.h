#pragma once
// LLaVA checkpoints into nn::Llava, in both layouts people publish:
//  - llava-hf (LlavaForConditionalGeneration): one checkpoint holding
//    language_model.*, vision_tower.* and multi_modal_projector.linear_1/2;
//    config.json with text_config, vision_config, vision_feature_layer,
//    vision_feature_select_strategy and image_token_index. Newer transformers
//    write model.language_model.*, model.vision_tower.*,
//    model.multi_modal_projector.* and lm_head.*; both are read.
//  - the original LLaVA repository (LlavaLlamaForCausalLM): a LLaMA
//    checkpoint plus model.mm_projector.0/2 and mm_* config keys; the vision
//    tower is a separate CLIP checkpoint (mm_vision_tower names it; here it
//    is a folder given by the caller).
#include <filesystem>
#include <memory>

#include "interop/hf_clip.h"
#include "interop/hf_llama.h"
#include "nn/models/llava.h"

namespace qs::interop {

// What a LLaVA checkpoint's configs say, without loading weights: the
// language model, the vision tower with LLaVA's feature selection, the
// projector and the token id that marks image positions.
struct LlavaConfigs {
  HfLlama text;
  vision::VitConfig vision;
  nn::ProjectorConfig projector;
  int64_t image_token_id = 0;
};
// llava-hf layout, or with clip_folder the original one; errors name the file and key.
LlavaConfigs read_llava_configs(const std::filesystem::path& folder, const std::filesystem::path& clip_folder = {});

// LLaVA's starting point before its projector is trained: a LLaMA (Vicuna)
// folder and a CLIP folder, joined by a new projector (`projector` gives its
// type, init and seed; in and out come from the two models). As LLaVA-1.5
// trains: features of the penultimate layer without the class token, image
// positions marked by <unk> (id 0) tokens.
LlavaConfigs assembled_llava_configs(const std::filesystem::path& llm_folder, const std::filesystem::path& clip_folder,
                                     const nn::ProjectorConfig& projector);

struct LoadedLlava {
  HfLlama text;
  std::shared_ptr<nn::Llava> model;
};

// llava-hf layout; or, with clip_folder, the original layout whose vision
// tower lives there. In the original layout the prompt marks the image with
// as many <unk> (id 0) tokens as the tower has features (the repository
// splices at the out-of-vocabulary IMAGE_TOKEN_INDEX -200 instead).
LoadedLlava load_llava(const std::filesystem::path& folder, const std::filesystem::path& clip_folder = {});
// The assembled model: both checkpoints loaded, the projector drawn afresh.
LoadedLlava assemble_llava(const std::filesystem::path& llm_folder, const std::filesystem::path& clip_folder,
                           const nn::ProjectorConfig& projector);

}  // namespace qs::interop
