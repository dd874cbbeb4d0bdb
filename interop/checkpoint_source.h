#pragma once
// A checkpoint seen under our parameter names: the rename table from a
// Hugging Face layout to an nn module's names, as sources for
// Module::load_state. under("") serves a whole model, under("layers.3.") one
// block (names relative to it); unused() lists the checkpoint's tensors that
// belong to the model but no source handed out, so a loader that goes piece
// by piece still reports them.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/io/safetensors.h"
#include "nn/module.h"

namespace qs::interop {

class CheckpointSource {
 public:
  // `belongs`: which of the checkpoint's names are the model's to load (a
  // LLaVA checkpoint holds a vision tower the LLM loader must not judge).
  CheckpointSource(const engine::SafetensorsCheckpoint& checkpoint, const std::function<bool(const std::string&)>& belongs);

  // Our name `ours` reads the checkpoint's `theirs` (which may be read by
  // several of ours: tied weights); `shape` reshapes it (a convolution kernel
  // read as a matrix), keeping its element count.
  void map(const std::string& ours, const std::string& theirs, const engine::Shape& shape = {});
  // A checkpoint tensor that belongs but is not a parameter (a buffer the
  // model recomputes): neither loaded nor reported.
  void skip(const std::string& theirs);

  nn::StateSource under(const std::string& prefix);
  std::vector<std::string> unused() const;  // the checkpoint's names

 private:
  struct Target {
    std::string theirs;
    engine::Shape shape;  // empty: as stored
  };
  const engine::SafetensorsCheckpoint& checkpoint_;
  std::set<std::string> belongs_;            // theirs
  std::map<std::string, Target> targets_;    // ours -> theirs
  std::set<std::string> mapped_, handed_out_;  // theirs
};

}  // namespace qs::interop
