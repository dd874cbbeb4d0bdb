#include "quant/scale_learning.h"

#include "engine/ops.h"

namespace qs::quant {

namespace e = qs::engine;

void for_each_quant(nn::Module& root, const std::function<void(const std::string&, QuantLinear&)>& f) {
  for (auto& [path, m] : root.named_modules()) {
    if (auto* q = dynamic_cast<QuantLinear*>(m)) f(path, *q);
  }
}

int64_t block_index(const std::string& path) {
  if (path.rfind("layers.", 0) != 0) return -1;
  const std::size_t end = path.find('.', 7);
  const std::string digits = path.substr(7, end == std::string::npos ? std::string::npos : end - 7);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

int64_t enable_scale_learning(nn::Module& root, int64_t start_layer) {
  int64_t n = 0;
  for_each_quant(root, [&](const std::string& path, QuantLinear& q) {
    if (block_index(path) > start_layer) {
      q.enable_scale_learning();
      ++n;
    }
  });
  return n;
}

std::map<std::string, Tensor> alpha_state(nn::Module& root) {
  std::map<std::string, Tensor> out;
  for_each_quant(root, [&](const std::string& path, QuantLinear& q) {
    if (q.alpha().defined()) out[path] = q.alpha().data();
  });
  return out;
}

void load_alpha(nn::Module& root, const std::map<std::string, Tensor>& alpha, const std::string& source) {
  for_each_quant(root, [&](const std::string& path, QuantLinear& q) {
    if (!q.alpha().defined()) return;
    auto it = alpha.find(path);
    QS_CHECK(it != alpha.end(), "{}: no alpha for layer '{}'", source, path);
    QS_CHECK(it->second.shape() == q.alpha().shape(), "{}: alpha of '{}' is {}, the layer needs {}", source, path,
             e::describe(it->second), e::describe(q.alpha().data()));
    e::copy_(q.alpha().data(), it->second);
  });
}

void reset_alpha(nn::Module& root) {
  for_each_quant(root, [](const std::string&, QuantLinear& q) {
    if (q.alpha().defined()) q.reset_alpha();
  });
}

void set_alpha_trainable(nn::Module& root) {
  for_each_quant(root, [](const std::string&, QuantLinear& q) {
    if (q.alpha().defined()) q.alpha().set_requires_grad(true);
  });
}

nn::ParamGroup alpha_group(nn::Module& root, double lr, const std::string& prefix) {
  std::vector<std::pair<std::string, autograd::Var>> alphas;
  for_each_quant(root, [&](const std::string& path, QuantLinear& q) {
    if (!q.alpha().defined()) return;
    q.alpha().set_requires_grad(true);
    alphas.emplace_back(prefix + path + ".alpha", q.alpha());
  });
  return nn::ParamGroup{"alpha", alphas, lr, 0.0};
}

void fold_alpha(nn::Module& root) {
  for_each_quant(root, [](const std::string&, QuantLinear& q) {
    if (q.mode() != QuantMode::packed) q.to_real();
  });
}

double mean_alpha_shift(nn::Module& root) {
  double sum = 0.0;
  int64_t n = 0;
  for (auto& [path, a] : alpha_state(root)) {
    for (double v : e::to_vector<double>(a)) sum += std::abs(v - 1.0);
    n += a.numel();
  }
  return n ? sum / static_cast<double>(n) : 0.0;
}

}  // namespace qs::quant
