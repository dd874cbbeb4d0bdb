#include "quant/surgery.h"

#include <regex>

#include "nn/lora.h"
#include "quant/bf16_linear.h"
#include "quant/nf4_linear.h"
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

std::vector<std::string> quantize_linears(nn::Module& root, const QuantSpec& spec, const PathFilter& select) {
  return nn::replace_linears(root, select, [&](const std::shared_ptr<nn::LinearLayer>& layer, const std::string&) {
    auto* lin = dynamic_cast<nn::Linear*>(layer.get());
    return lin ? std::make_shared<QuantLinear>(*lin, spec) : nullptr;
  });
}

std::vector<std::string> nf4_linears(nn::Module& root, int64_t block, bool double_quant, const PathFilter& select) {
  return nn::replace_linears(root, select, [&](const std::shared_ptr<nn::LinearLayer>& layer, const std::string&) {
    auto* lin = dynamic_cast<nn::Linear*>(layer.get());
    return lin ? std::make_shared<Nf4Linear>(*lin, block, double_quant) : nullptr;
  });
}

std::vector<std::string> bf16_linears(nn::Module& root, const PathFilter& select) {
  return nn::replace_linears(root, select, [&](const std::shared_ptr<nn::LinearLayer>& layer, const std::string&) {
    auto* lin = dynamic_cast<nn::Linear*>(layer.get());
    return lin ? std::make_shared<Bf16Linear>(*lin) : nullptr;
  });
}

std::vector<std::string> add_lora(nn::Module& root, const nn::LoraConfig& config, const PathFilter& select) {
  uint64_t index = 0;
  return nn::replace_linears(root, select, [&](const std::shared_ptr<nn::LinearLayer>& layer, const std::string&) {
    nn::LoraConfig c = config;
    c.seed = config.seed * 1000003 + 2 * index++;  // a different A per layer
    return std::make_shared<nn::LoraLinear>(layer, c);
  });
}

}  // namespace qs::quant
