#pragma once
// The vision settings of the pretrain_clip stage, for the stages that load its ViT.
#include <string>

#include "experiments/config.h"
#include "vision/vit.h"

namespace qs::experiments {

vision::VitConfig read_clip_vit_config(const YAML::Node& experiment, const std::string& file);

}  // namespace qs::experiments
