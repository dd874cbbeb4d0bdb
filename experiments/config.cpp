#include "experiments/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace qs::experiments {

namespace {

YAML::Node parse_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  QS_CHECK(in.good(), "config {}: cannot open file", path.string());
  std::stringstream text;
  text << in.rdbuf();
  try {
    YAML::Node n = YAML::Load(text.str());
    QS_CHECK(n.IsMap() || n.IsNull(), "config {}: the top level must be a mapping of keys to values",
             path.string());
    return n.IsNull() ? YAML::Node(YAML::NodeType::Map) : n;
  } catch (const YAML::Exception& e) {
    fail("config {}: YAML syntax error at line {}, column {}: {}", path.string(), e.mark.line + 1,
         e.mark.column + 1, e.msg);
  }
}

// base <- over, recursively for mappings; anything else is replaced.
YAML::Node merge(const YAML::Node& base, const YAML::Node& over) {
  if (!base.IsMap() || !over.IsMap()) return YAML::Clone(over);
  YAML::Node out = YAML::Clone(base);
  for (auto it = over.begin(); it != over.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    out[key] = out[key] ? merge(out[key], it->second) : YAML::Clone(it->second);
  }
  return out;
}

YAML::Node load_with_includes(const std::filesystem::path& path, std::vector<std::string>& chain) {
  const std::string canon = std::filesystem::weakly_canonical(path).string();
  QS_CHECK(std::find(chain.begin(), chain.end(), canon) == chain.end(),
           "config {}: include cycle ({} includes itself)", path.string(), canon);
  chain.push_back(canon);
  YAML::Node node = parse_file(path);
  YAML::Node result(YAML::NodeType::Map);
  if (node["include"]) {
    std::vector<std::string> includes;
    if (node["include"].IsSequence()) {
      for (const auto& n : node["include"]) includes.push_back(n.as<std::string>());
    } else {
      QS_CHECK(node["include"].IsScalar(), "config {}: 'include' must be a file name or a list of them",
               path.string());
      includes.push_back(node["include"].as<std::string>());
    }
    for (const std::string& inc : includes) {
      std::filesystem::path p = path.parent_path() / inc;
      QS_CHECK(std::filesystem::exists(p), "config {}: included file {} does not exist", path.string(),
               p.string());
      result = merge(result, load_with_includes(p, chain));
    }
    node.remove("include");
  }
  chain.pop_back();
  return merge(result, node);
}

void apply_override(YAML::Node& root, const std::string& text, const std::string& file) {
  const std::size_t eq = text.find('=');
  QS_CHECK(eq != std::string::npos && eq > 0,
           "override '{}' for config {}: expected key.path=value", text, file);
  const std::string path = text.substr(0, eq), value = text.substr(eq + 1);
  // An empty value would parse as null, which reads as "use the code's
  // default": a silent change of meaning, never what was typed.
  QS_CHECK(value.find_first_not_of(" \t") != std::string::npos,
           "override '{}' for config {}: empty value for '{}'", text, file, path);
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    QS_CHECK(!k.empty(), "override '{}' for config {}: empty key in '{}'", text, file, path);
    keys.push_back(k);
  }
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    fail("override '{}' for config {}: value is not valid YAML: {}", text, file, e.msg);
  }
  // yaml-cpp nodes are handles: walk down by reassigning copies of children.
  std::vector<YAML::Node> nodes{root};
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node next = nodes.back()[keys[i]];
    if (!next || next.IsNull()) {
      nodes.back()[keys[i]] = YAML::Node(YAML::NodeType::Map);
      next = nodes.back()[keys[i]];
    }
    QS_CHECK(next.IsMap(), "override '{}' for config {}: '{}' is not a mapping", text, file, keys[i]);
    nodes.push_back(next);
  }
  nodes.back()[keys.back()] = parsed;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

ExperimentFile load_experiment(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  std::vector<std::string> chain;
  ExperimentFile f{path, load_with_includes(path, chain)};
  for (const std::string& o : overrides) apply_override(f.root, o, path.string());
  return f;
}

std::string to_yaml(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return out.c_str();
}

std::string closest(const std::string& word, const std::set<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

ConfigSection::ConfigSection(YAML::Node node, std::string key_path, std::string file)
    : node_(node), path_(std::move(key_path)), file_(std::move(file)) {
  QS_CHECK(!node_ || node_.IsNull() || node_.IsMap(), "config {}: '{}' must be a mapping", file_,
           path_.empty() ? "(top level)" : path_);
}

bool ConfigSection::has(const std::string& key) const {
  return node_ && node_.IsMap() && node_[key] && !node_[key].IsNull();
}

ConfigSection ConfigSection::section(const std::string& key) {
  known_.insert(key);
  return ConfigSection(has(key) ? node_[key] : YAML::Node(YAML::NodeType::Map), path_of(key), file_);
}

void ConfigSection::finish() const {
  if (!node_ || !node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (known_.count(key)) continue;
    std::string hint = closest(key, known_);
    fail("config {}: unknown key '{}'{}", file_, path_of(key),
         hint.empty() ? fmt::format(" (valid keys: {})", fmt::join(known_, ", "))
                      : fmt::format(" (did you mean '{}'?)", path_of(hint)));
  }
}

namespace {
template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else return "a list";
}
}  // namespace

template <class T>
T ConfigSection::convert(const std::string& key) const {
  const YAML::Node n = node_[key];
  try {
    if constexpr (std::is_same_v<T, std::string>) {
      QS_CHECK(n.IsScalar(), "not a scalar");
    }
    return n.as<T>();
  } catch (const std::exception&) {
    fail("config {}: key '{}' must be {}, got '{}'", file_, path_of(key), type_name<T>(),
         n.IsScalar() ? n.Scalar() : to_yaml(n));
  }
}

template bool ConfigSection::convert<bool>(const std::string&) const;
template int64_t ConfigSection::convert<int64_t>(const std::string&) const;
template uint64_t ConfigSection::convert<uint64_t>(const std::string&) const;
template double ConfigSection::convert<double>(const std::string&) const;
template std::string ConfigSection::convert<std::string>(const std::string&) const;
template std::vector<std::string> ConfigSection::convert<std::vector<std::string>>(const std::string&) const;

}  // namespace qs::experiments
