#pragma once
// Experiment configs: YAML files that may `include:` base files (deep-merged,
// this file's keys winning), command-line overrides `key.sub=value`, and
// typed reading through ConfigSection, which rejects unknown keys (with the
// closest valid key), wrong types and missing required keys before any work
// starts, naming the file and the key path.
#include <yaml-cpp/yaml.h>

#include <array>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "engine/error.h"

namespace qs::experiments {

struct ExperimentFile {
  std::filesystem::path path;
  YAML::Node root;  // includes merged, overrides applied
};

ExperimentFile load_experiment(const std::filesystem::path& path,
                               const std::vector<std::string>& overrides = {});
std::string to_yaml(const YAML::Node& node);
// The closest candidate by edit distance, or "" when none is close.
std::string closest(const std::string& word, const std::set<std::string>& candidates);

class ConfigSection {
 public:
  ConfigSection(YAML::Node node, std::string key_path, std::string file);

  bool has(const std::string& key) const;
  template <class T>
  T get(const std::string& key, const T& fallback) {
    known_.insert(key);
    return has(key) ? convert<T>(key) : fallback;
  }
  // A number that must lie in [lo, hi] (sizes, counts: a zero patch size or
  // a billion-sample batch is refused before any work starts).
  template <class T>
  T get_in(const std::string& key, const T& fallback, const T& lo, const T& hi) {
    const T v = get<T>(key, fallback);
    QS_CHECK(v >= lo && v <= hi, "config {}: '{}' must be in [{}, {}], got {}", file_, path_of(key), lo, hi, v);
    return v;
  }
  // One of a fixed set of names, as its enum value: `choices` is the enum's
  // parse table ({name, value} pairs); the error lists the names.
  template <class E, std::size_t N>
  E get_choice(const std::string& key, E fallback, const std::array<std::pair<const char*, E>, N>& choices) {
    known_.insert(key);
    if (!has(key)) return fallback;
    const std::string v = convert<std::string>(key);
    std::string names;
    for (std::size_t i = 0; i < N; ++i) {
      if (v == choices[i].first) return choices[i].second;
      names += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(choices[i].first);
    }
    fail("config {}: '{}' is '{}' (expected {})", file_, path_of(key), v, names);
  }
  template <class T>
  T require(const std::string& key) {
    known_.insert(key);
    QS_CHECK(has(key), "config {}: missing required key '{}'", file_, path_of(key));
    return convert<T>(key);
  }
  // A nested mapping (empty when absent).
  ConfigSection section(const std::string& key);
  // Errors on any key that no get/require/section asked for.
  void finish() const;
  std::string path_of(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& file() const { return file_; }
  const YAML::Node& node() const { return node_; }

 private:
  template <class T>
  T convert(const std::string& key) const;

  YAML::Node node_;
  std::string path_;
  std::string file_;
  std::set<std::string> known_;
};

}  // namespace qs::experiments
