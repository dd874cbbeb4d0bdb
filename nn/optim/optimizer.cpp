#include "nn/optim/optimizer.h"

#include <cmath>

#include "engine/ops.h"

namespace qs::nn {

namespace e = qs::engine;

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  for (auto& g : groups_) {
    QS_CHECK(g.lr >= 0.0, "optimizer: group '{}' has a negative learning rate {}", g.name, g.lr);
    for (auto& [path, p] : g.params) {
      QS_CHECK(p.defined() && p.is_leaf(), "optimizer: '{}' is not a leaf parameter", path);
    }
  }
}

void Optimizer::step() {
  ++steps_;
  for (auto& g : groups_) {
    for (auto& [path, p] : g.params) {
      if (!p.requires_grad() || !p.grad().defined()) continue;
      update(path, p, g.lr * lr_scale_, g.weight_decay);
    }
  }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_) {
    for (auto& [path, p] : g.params) p.zero_grad();
  }
}

Tensor& Optimizer::slot(const std::string& name, const std::string& path, const Tensor& like) {
  Tensor& t = state_[name + "." + path];
  if (!t.defined()) t = e::zeros_like(like);
  return t;
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out = state_;
  out["step"] = e::scalar(static_cast<double>(steps_), e::DType::i64);
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  auto it = state.find("step");
  QS_CHECK(it != state.end(), "optimizer state: no 'step' entry");
  std::map<std::string, Tensor> fresh;
  for (auto& [name, t] : state) {
    if (name == "step") continue;
    // The slot must belong to a parameter of this optimizer with the same shape.
    std::size_t dot = name.find('.');
    QS_CHECK(dot != std::string::npos, "optimizer state: malformed entry '{}'", name);
    const std::string path = name.substr(dot + 1);
    const Var* match = nullptr;
    for (auto& g : groups_) {
      for (auto& [p, v] : g.params) {
        if (p == path) match = &v;
      }
    }
    QS_CHECK(match, "optimizer state: '{}' names no parameter of this optimizer", name);
    QS_CHECK(match->shape() == t.shape() && match->dtype() == t.dtype(),
             "optimizer state: '{}' is {} but the parameter is {}", name, e::describe(t),
             e::describe(match->data()));
    // On the parameter's device (a checkpoint loads on the CPU), never aliased.
    const Tensor moved = t.to(match->data().device());
    fresh[name] = moved.storage() == t.storage() ? t.clone() : moved;
  }
  state_ = std::move(fresh);
  steps_ = it->second.item<int64_t>();
}

AdamW::AdamW(std::vector<ParamGroup> groups, double beta1, double beta2, double eps)
    : Optimizer(std::move(groups)), beta1_(beta1), beta2_(beta2), eps_(eps) {}

void AdamW::update(const std::string& path, const Var& param, double lr, double weight_decay) {
  Tensor& m = slot("exp_avg", path, param.data());
  Tensor& v = slot("exp_avg_sq", path, param.data());
  e::adamw_step_(param.data(), param.grad().contiguous(), m, v, lr, beta1_, beta2_, eps_,
                 weight_decay, steps_);
}

SGD::SGD(std::vector<ParamGroup> groups, double momentum)
    : Optimizer(std::move(groups)), momentum_(momentum) {}

void SGD::update(const std::string& path, const Var& param, double lr, double weight_decay) {
  Tensor buf = momentum_ > 0.0 ? slot("momentum", path, param.data()) : Tensor();
  e::sgd_step_(param.data(), param.grad().contiguous(), buf, lr, momentum_, weight_decay);
}

double clip_grad_norm(const std::vector<Var>& params, double max_norm) {
  double total = 0.0;
  for (const Var& p : params) {
    if (!p.grad().defined()) continue;
    total += e::sum(e::mul(p.grad(), p.grad())).item<double>();
  }
  const double norm = std::sqrt(total);
  if (norm > max_norm && norm > 0.0) {
    const double scale = max_norm / (norm + 1e-6);
    for (const Var& p : params) {
      if (p.grad().defined()) p.set_grad(p.grad() * scale);
    }
  }
  return norm;
}

}  // namespace qs::nn
