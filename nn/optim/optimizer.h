#pragma once
// Optimizers over named parameter groups, each with its own learning rate and
// weight decay (the multimodal stages train the projector at its own rate).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autograd/var.h"

namespace qs::nn {

using autograd::Var;
using engine::Tensor;

struct ParamGroup {
  std::string name;
  std::vector<std::pair<std::string, Var>> params;  // dotted path -> parameter
  double lr = 1e-3;
  double weight_decay = 0.0;
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;

  // One update of every parameter that has a gradient, at lr * lr_scale.
  void step();
  void zero_grad();
  // The learning-rate multiplier from a schedule, applied from the next step.
  void set_lr_scale(double scale) { lr_scale_ = scale; }
  double lr_scale() const { return lr_scale_; }
  int64_t steps() const { return steps_; }
  std::vector<ParamGroup>& groups() { return groups_; }

  // State for checkpoints: "<slot>.<param path>" plus "step".
  std::map<std::string, Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  virtual void update(const std::string& path, const Var& param, double lr, double weight_decay) = 0;
  // A state slot of one parameter ("exp_avg"), created zero on first use.
  Tensor& slot(const std::string& name, const std::string& path, const Tensor& like);
  int64_t steps_ = 0;

 private:
  std::vector<ParamGroup> groups_;
  double lr_scale_ = 1.0;
  std::map<std::string, Tensor> state_;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8);

 protected:
  void update(const std::string& path, const Var& param, double lr, double weight_decay) override;

 private:
  double beta1_, beta2_, eps_;
};

class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<ParamGroup> groups, double momentum = 0.0);

 protected:
  void update(const std::string& path, const Var& param, double lr, double weight_decay) override;

 private:
  double momentum_;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns
// the norm before clipping.
double clip_grad_norm(const std::vector<Var>& params, double max_norm);

}  // namespace qs::nn
