#include "quant/surgery.h"

#include <regex>

#include "quant/quant_linear.h"

namespace qs::quant {

PathFilter path_pattern(const std::string& pattern) {
  // prefix.<lo>-<hi><rest> or prefix.<lo>-<rest>: <rest> is a regular
  // expression matched against what follows "prefix.<i>" (".attn.q_proj").
  static const std::regex ranged(R"(^([A-Za-z_][\w.]*?)\.(\d+)-(\d*)(.*)$)");
  try {
    std::smatch m;
    if (std::regex_match(pattern, m, ranged)) {
      const int64_t lo = std::stoll(m[2]);
      const int64_t hi = m[3].length() ? std::stoll(m[3]) : INT64_MAX;
      const std::regex rest(m[4].str());
      const std::regex path_re("^" + std::regex_replace(m[1].str(), std::regex(R"(\.)"), R"(\.)") +
                               R"(\.(\d+)(\..*)?$)");
      return [=](const std::string& path) {
        std::smatch pm;
        if (!std::regex_match(path, pm, path_re)) return false;
        const int64_t i = std::stoll(pm[1]);
        return i >= lo && i <= hi && std::regex_match(pm[2].str(), rest);
      };
    }
    const std::regex re(pattern);
    return [re](const std::string& path) { return std::regex_match(path, re); };
  } catch (const std::regex_error& e) {
    fail("quant: layer pattern '{}' is not a valid regular expression: {}", pattern, e.what());
  }
}

namespace {
void visit(nn::Module& m, const std::string& prefix, const QuantSpec& spec, const PathFilter& select,
           std::vector<std::string>& done) {
  for (auto& [name, child] : std::vector(m.children())) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    if (auto* lin = dynamic_cast<nn::Linear*>(child.get()); lin && select(path)) {
      m.replace_child(name, std::make_shared<QuantLinear>(*lin, spec));
      done.push_back(path);
    } else {
      visit(*child, path, spec, select, done);
    }
  }
}
}  // namespace

std::vector<std::string> quantize_linears(nn::Module& root, const QuantSpec& spec, const PathFilter& select) {
  std::vector<std::string> done;
  visit(root, "", spec, select, done);
  return done;
}

}  // namespace qs::quant
