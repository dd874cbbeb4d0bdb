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

struct LoadedLlava {
  HfLlama text;
  std::shared_ptr<nn::Llava> model;
};

// llava-hf layout; or, with clip_folder, the original layout whose vision
// tower lives there. In the original layout the prompt marks the image with
// as many <unk> (id 0) tokens as the tower has features (the repository
// splices at the out-of-vocabulary IMAGE_TOKEN_INDEX -200 instead).
LoadedLlava load_llava(const std::filesystem::path& folder, const std::filesystem::path& clip_folder = {});

}  // namespace qs::interop
