#pragma once
// Loading an experiment's YAML. The typed per-stage configs come with the
// stage pipeline; for now a config is parsed, checked for the top-level
// shape every experiment has, and can be printed back resolved.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

namespace qs::experiments {

struct ExperimentFile {
  std::filesystem::path path;
  YAML::Node root;
};

// Reads and parses `path`; errors name the file, and the line and column of a
// syntax error.
ExperimentFile load_experiment(const std::filesystem::path& path);
std::string to_yaml(const YAML::Node& node);

}  // namespace qs::experiments
