#pragma once
// Var: a Tensor plus what reverse-mode autograd needs: requires_grad, the
// accumulated grad, and the Node that produced it. backward() walks the graph
// in reverse topological order and accumulates into leaves.
#include <functional>
#include <memory>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace qs::autograd {

using engine::DType;
using engine::Shape;
using engine::Tensor;

struct Node;
class Var;

// Computes the gradients of a node's inputs from the gradient of its output.
// needs[i] says whether input i wants one; return an undefined Tensor otherwise.
using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& grad, const std::vector<bool>& needs)>;

struct VarImpl {
  Tensor data;
  Tensor grad;
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
};

class Var {
 public:
  Var() = default;
  explicit Var(Tensor data, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const;
  // Replaces the value (optimizer steps, loading); the shape must not change.
  void set_data(const Tensor& data) const;
  const Tensor& grad() const;
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;  // drops the grad (undefined until the next backward)
  bool requires_grad() const;
  void set_requires_grad(bool on) const;  // leaves only
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  void retain_grad() const;  // keep the grad of a non-leaf after backward

  // Backpropagates from this Var. `grad` defaults to 1 for a one-element Var;
  // retain_graph keeps the saved tensors for a second backward.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  // The same value, cut from the graph.
  Var detach() const;

  const Shape& shape() const { return data().shape(); }
  int64_t dim() const { return data().dim(); }
  int64_t size(int64_t d) const { return data().size(d); }
  int64_t numel() const { return data().numel(); }
  DType dtype() const { return data().dtype(); }
  VarImpl* impl() const { return impl_.get(); }

 private:
  friend Var make_result(Tensor, const char*, std::vector<Var>, BackwardFn);
  std::shared_ptr<VarImpl> impl_;
};

struct Node {
  const char* name;
  std::vector<Var> inputs;
  BackwardFn backward;  // reset after use unless the graph is retained
  std::weak_ptr<VarImpl> output;
};

// Wraps an op's output: records a Node when grad mode is on and some input
// requires grad, otherwise returns a plain Var.
Var make_result(Tensor out, const char* name, std::vector<Var> inputs, BackwardFn backward);

bool grad_enabled();

// Disables graph recording in its scope (per thread).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

// Mixed precision (per thread, in its scope): matmuls of f32 tensors on a GPU
// run on bf16 copies of their operands with f32 accumulation and give f32, so
// tensor cores do the GEMMs while parameters, gradients and optimizer state
// stay f32 (the master weights). The backward pass of a matmul recorded under
// autocast runs the same way. Other ops keep their dtype.
class Autocast {
 public:
  explicit Autocast(bool on = true);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool previous_;
};
bool autocast_enabled();

}  // namespace qs::autograd
