#include "experiments/config.h"

#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace qs::experiments {

ExperimentFile load_experiment(const std::filesystem::path& path) {
  std::ifstream in(path);
  QS_CHECK(in.good(), "config {}: cannot open file", path.string());
  std::stringstream text;
  text << in.rdbuf();
  ExperimentFile f{path, {}};
  try {
    f.root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    fail("config {}: YAML syntax error at line {}, column {}: {}", path.string(), e.mark.line + 1,
         e.mark.column + 1, e.msg);
  }
  QS_CHECK(f.root.IsMap(), "config {}: the top level must be a mapping of keys to values",
           path.string());
  return f;
}

std::string to_yaml(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return out.c_str();
}

}  // namespace qs::experiments
