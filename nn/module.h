#pragma once
// Module: parameters, buffers and child modules registered by name, so every
// tensor of a model has a dotted path (layers.3.attn.q_proj.weight) used by
// state dicts, checkpoints, freezing rules and error messages.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/var.h"

namespace qs::nn {

using autograd::Var;
using engine::Device;
using engine::DType;
using engine::Shape;
using engine::Tensor;

// Where load_state reads from: the names it holds, each one's shape and
// dtype as stored (known without reading its data), and a reader for one.
// With widen_floats, a stored floating tensor may fill a floating slot of
// another dtype (a bf16 checkpoint into f32 weights); otherwise dtypes match.
struct StateSource {
  std::string origin;  // names the source in errors
  std::vector<std::string> names;
  std::function<std::pair<Shape, DType>(const std::string& name)> header;
  std::function<Tensor(const std::string& name)> read;
  bool widen_floats = false;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Registration order, children after own entries, depth first.
  std::vector<std::pair<std::string, Var>> named_parameters() const;
  std::vector<Var> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  // This module ("") and every module below it by dotted path, parents before
  // their children, in registration order.
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<std::pair<std::string, const Module*>> named_modules() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Freezes (false) or unfreezes (true) every parameter of this subtree.
  void set_requires_grad(bool on);

  // Parameters and buffers by dotted path.
  std::map<std::string, Tensor> state_dict() const;
  // Copies values in; errors list missing, unexpected and mis-shaped entries.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  // The same from any source (a checkpoint on disk, renamed): every name,
  // shape and dtype is checked from the source's headers first, so a bad
  // source leaves the module untouched; then tensors are read and copied one
  // at a time, so a load never holds more than one of them beyond the model.
  void load_state(const StateSource& source, bool strict = true);

  int64_t num_parameters(bool trainable_only = false) const;
  // Converts every floating parameter and buffer to dtype, in place.
  void to(DType dtype);
  // Moves every parameter and buffer to device, in place (gradients are
  // dropped; optimizer state must be created after the move). Layers with
  // state beyond parameters and buffers extend it.
  virtual void to(Device device);
  // The submodule at a dotted path ("" is this module); an error names the path.
  Module& submodule(const std::string& path);
  Var parameter(const std::string& path) const;
  // Swaps a direct child for another module (quantization is module surgery):
  // forward passes look children up by name, so the swap takes effect at once.
  void replace_child(const std::string& name, std::shared_ptr<Module> module);
  // A direct child as type T; the error names the child and the type wanted.
  template <class T>
  T& child(const std::string& name) const {
    for (auto& [n, m] : children_) {
      if (n != name) continue;
      auto* typed = dynamic_cast<T*>(m.get());
      QS_CHECK(typed, "Module: child '{}' is not of the type its parent expects", name);
      return *typed;
    }
    fail("Module: no child named '{}'", name);
  }

 protected:
  Var register_parameter(const std::string& name, const Tensor& init, bool requires_grad = true);
  void register_buffer(const std::string& name, const Tensor& value);
  void set_buffer(const std::string& name, const Tensor& value);  // registers it if new
  void remove_parameter(const std::string& name);
  Tensor buffer(const std::string& name) const;
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect_parameters(const std::string& prefix,
                          std::vector<std::pair<std::string, Var>>& out) const;
  void collect_buffers(const std::string& prefix,
                       std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Var>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace qs::nn
