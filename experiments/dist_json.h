#pragma once
// Text and JSON across the ranks of a data-parallel run (engine/dist moves
// tensors; these carry results and decisions as UTF-8 bytes over it).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/dist/process_group.h"

namespace qs::experiments {

// Rank root's text on every rank.
std::string broadcast_text(engine::dist::ProcessGroup& group, const std::string& text, int root = 0);
// Every rank's value, in rank order, on every rank.
std::vector<nlohmann::json> all_gather_json(engine::dist::ProcessGroup& group, const nlohmann::json& mine);

}  // namespace qs::experiments
