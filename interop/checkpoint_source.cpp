#include "interop/checkpoint_source.h"

#include "engine/error.h"

namespace qs::interop {

CheckpointSource::CheckpointSource(const engine::SafetensorsCheckpoint& checkpoint,
                                   const std::function<bool(const std::string&)>& belongs)
    : checkpoint_(checkpoint) {
  for (const std::string& name : checkpoint.names()) {
    if (belongs(name)) belongs_.insert(name);
  }
}

void CheckpointSource::map(const std::string& ours, const std::string& theirs, const engine::Shape& shape) {
  if (!checkpoint_.contains(theirs)) return;  // reported missing under our name
  targets_[ours] = Target{theirs, shape};
  mapped_.insert(theirs);
}

void CheckpointSource::skip(const std::string& theirs) { belongs_.erase(theirs); }

nn::StateSource CheckpointSource::under(const std::string& prefix) {
  nn::StateSource source;
  source.origin = fmt::format("loading {}", checkpoint_.path().string());
  source.widen_floats = true;
  for (const auto& [ours, target] : targets_) {
    if (ours.compare(0, prefix.size(), prefix) != 0) continue;
    source.names.push_back(ours.substr(prefix.size()));
    handed_out_.insert(target.theirs);
  }
  // What belongs to the model but maps to none of its names is offered
  // under the checkpoint's own name, so load_state lists it as unexpected.
  if (prefix.empty()) {
    for (const std::string& theirs : belongs_) {
      if (!mapped_.count(theirs)) source.names.push_back(theirs);
    }
  }
  auto target = [this, prefix](const std::string& name) -> Target {
    auto it = targets_.find(prefix + name);
    return it != targets_.end() ? it->second : Target{name, {}};
  };
  source.header = [this, target](const std::string& name) {
    const Target t = target(name);
    const engine::SafetensorsEntry& e = checkpoint_.entry(t.theirs);
    const bool reshaped = !t.shape.empty() && engine::numel_of(t.shape) == engine::numel_of(e.shape);
    return std::make_pair(reshaped ? t.shape : e.shape, e.dtype);
  };
  source.read = [this, target](const std::string& name) {
    const Target t = target(name);
    engine::Tensor x = checkpoint_.load(t.theirs);
    return t.shape.empty() ? x : x.view(t.shape);
  };
  return source;
}

std::vector<std::string> CheckpointSource::unused() const {
  std::vector<std::string> out;
  for (const std::string& theirs : belongs_) {
    if (!handed_out_.count(theirs)) out.push_back(theirs);
  }
  return out;
}

}  // namespace qs::interop
