#pragma once
// The vision settings of the pretrain_clip stage, for the stages that load its ViT.
#include <string>

#include "data/scene.h"
#include "experiments/config.h"
#include "vision/vit.h"

namespace qs::experiments {

vision::VitConfig read_clip_vit_config(const YAML::Node& experiment, const std::string& file);
// The scenes its captions show (canvas, share of patterned objects): align's
// caption pairs are drawn from the same world.
data::SceneConfig read_clip_scene_config(const YAML::Node& experiment, const std::string& file);

}  // namespace qs::experiments
