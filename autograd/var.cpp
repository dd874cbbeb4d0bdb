#include "autograd/var.h"

#include "autograd/grad_ready.h"

#include <unordered_map>
#include <unordered_set>

namespace qs::autograd {

namespace {
thread_local bool g_grad_enabled = true;

// Gradients of leaves are kept contiguous and never alias another tensor, so
// later in-place updates of one cannot leak into another. A gradient that is
// the only handle on all of its storage (a backward function's fresh result)
// is adopted as it is: copying every parameter's gradient cost ~2% of a step.
bool sole_handle(const Tensor& g) {
  return g.storage().use_count() == 1 && g.is_contiguous() && g.offset() == 0 && g.nbytes() == g.storage()->nbytes();
}
Tensor own(Tensor g) {
  if (sole_handle(g)) return g;
  return g.is_contiguous() ? g.clone() : g.contiguous();
}
// sum + g, in sum's buffer when nothing else holds it (a gradient passed on
// unchanged by one node may be another input's gradient too).
Tensor accumulate(Tensor sum, const Tensor& g) {
  if (!sole_handle(sum) || sum.dtype() != g.dtype() || sum.shape() != g.shape() || sum.device() != g.device()) {
    return engine::add(sum, g);
  }
  engine::add_(sum, g);
  return sum;
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }

namespace {
// The GradReadyHook of this thread, how deep backward calls are nested (the
// outermost is 1), and the leaves already reported by the outermost one.
thread_local std::function<void(VarImpl*)>* g_grad_ready = nullptr;
thread_local int g_backward_depth = 0;
thread_local std::unordered_set<VarImpl*>* g_reported = nullptr;

struct DepthGuard {
  DepthGuard() { ++g_backward_depth; }
  ~DepthGuard() { --g_backward_depth; }
};
}  // namespace

GradReadyHook::GradReadyHook(std::function<void(VarImpl*)> on_ready)
    : on_ready_(std::move(on_ready)), previous_(g_grad_ready) {
  g_grad_ready = &on_ready_;
}
GradReadyHook::~GradReadyHook() { g_grad_ready = previous_; }

thread_local bool g_autocast = false;
bool autocast_enabled() { return g_autocast; }
Autocast::Autocast(bool on) : previous_(g_autocast) { g_autocast = on; }
Autocast::~Autocast() { g_autocast = previous_; }
NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }

Var::Var(Tensor data, bool requires_grad) : impl_(std::make_shared<VarImpl>()) {
  QS_CHECK(data.defined(), "Var: cannot wrap an undefined tensor");
  QS_CHECK(!requires_grad || engine::is_floating(data.dtype()),
           "Var: only floating tensors can require grad, got {}", engine::describe(data));
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad;
}

#define QS_VAR_DEFINED(op) QS_CHECK(impl_, "Var::{}: undefined Var", op)

const Tensor& Var::data() const {
  QS_VAR_DEFINED("data");
  return impl_->data;
}
void Var::set_data(const Tensor& data) const {
  QS_VAR_DEFINED("set_data");
  QS_CHECK(data.shape() == impl_->data.shape(), "Var::set_data: shape {} differs from {}",
           engine::describe(data), engine::describe(impl_->data));
  impl_->data = data;
}
const Tensor& Var::grad() const {
  QS_VAR_DEFINED("grad");
  return impl_->grad;
}
void Var::set_grad(const Tensor& grad) const {
  QS_VAR_DEFINED("set_grad");
  QS_CHECK(!grad.defined() || grad.shape() == impl_->data.shape(),
           "Var::set_grad: grad {} does not match value {}", engine::describe(grad),
           engine::describe(impl_->data));
  impl_->grad = grad;
}
void Var::zero_grad() const {
  QS_VAR_DEFINED("zero_grad");
  impl_->grad = Tensor();
}
bool Var::requires_grad() const { return impl_ && impl_->requires_grad; }
void Var::set_requires_grad(bool on) const {
  QS_VAR_DEFINED("set_requires_grad");
  QS_CHECK(is_leaf(), "Var::set_requires_grad: only leaves can be (un)frozen; use detach()");
  QS_CHECK(!on || engine::is_floating(impl_->data.dtype()),
           "Var::set_requires_grad: only floating tensors can require grad, got {}",
           engine::describe(impl_->data));
  impl_->requires_grad = on;
}
bool Var::is_leaf() const { return !impl_ || impl_->grad_fn == nullptr; }
const std::shared_ptr<Node>& Var::grad_fn() const {
  QS_VAR_DEFINED("grad_fn");
  return impl_->grad_fn;
}
void Var::retain_grad() const {
  QS_VAR_DEFINED("retain_grad");
  impl_->retains_grad = true;
}
Var Var::detach() const { return Var(data(), false); }

Var make_result(Tensor out, const char* name, std::vector<Var> inputs, BackwardFn backward) {
  bool needs = false;
  if (g_grad_enabled) {
    for (const Var& v : inputs) needs = needs || v.requires_grad();
  }
  Var result(std::move(out));
  if (!needs) return result;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  node->output = result.impl_;
  result.impl()->requires_grad = true;
  result.impl()->grad_fn = node;
  return result;
}

void Var::backward(const Tensor& grad, bool retain_graph) const {
  QS_VAR_DEFINED("backward");
  QS_CHECK(impl_->requires_grad, "backward: the Var does not require grad (nothing to do)");
  Tensor seed = grad;
  if (!seed.defined()) {
    QS_CHECK(impl_->data.numel() == 1,
             "backward: a gradient must be given for non-scalar output {}",
             engine::describe(impl_->data));
    seed = engine::ones_like(impl_->data);
  }
  QS_CHECK(seed.shape() == impl_->data.shape(), "backward: gradient {} does not match output {}",
           engine::describe(seed), engine::describe(impl_->data));

  DepthGuard depth;
  const bool report = g_grad_ready && g_backward_depth == 1;
  std::unordered_set<VarImpl*> reported;
  if (report) g_reported = &reported;
  struct ClearReported {
    bool active;
    ~ClearReported() {
      if (active) g_reported = nullptr;
    }
  } clear_reported{report};
  auto accumulate_leaf = [](VarImpl* leaf, Tensor g) {
    QS_CHECK(!g_reported || !g_reported->count(leaf),
             "backward: a gradient changed after it was reported final (a parameter used both inside and outside an "
             "activation-checkpointed segment); data-parallel overlap cannot all-reduce it early");
    leaf->grad = leaf->grad.defined() ? accumulate(std::move(leaf->grad), g) : own(std::move(g));
  };
  auto ready = [&](VarImpl* leaf) {
    reported.insert(leaf);
    (*g_grad_ready)(leaf);
  };
  if (is_leaf()) {
    accumulate_leaf(impl_.get(), seed);
    if (report) ready(impl_.get());
    return;
  }

  // Reverse topological order of the nodes reachable from this output.
  std::vector<Node*> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<Node*, std::size_t>> stack{{impl_->grad_fn.get(), 0}};
  visited.insert(impl_->grad_fn.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      Node* child = node->inputs[next++].impl()->grad_fn.get();
      if (child && visited.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  // With a GradReadyHook: how many node inputs still feed each leaf.
  std::unordered_map<VarImpl*, int> pending;
  if (report) {
    for (Node* node : order) {
      for (const Var& in : node->inputs) {
        if (in.is_leaf() && in.requires_grad()) ++pending[in.impl()];
      }
    }
  }
  auto done_with = [&](Node* node) {
    if (!report) return;
    for (const Var& in : node->inputs) {
      if (in.is_leaf() && in.requires_grad() && --pending[in.impl()] == 0) ready(in.impl());
    }
  };

  std::unordered_map<Node*, Tensor> grads{{impl_->grad_fn.get(), seed}};
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found == grads.end()) {  // no gradient flowed here
      done_with(node);
      continue;
    }
    Tensor g = std::move(found->second);
    grads.erase(found);
    QS_CHECK(node->backward,
             "backward: the graph through '{}' was already freed by an earlier backward "
             "(pass retain_graph=true to backpropagate twice)",
             node->name);
    if (auto out = node->output.lock(); out && out->retains_grad) accumulate_leaf(out.get(), g);
    std::vector<bool> needs(node->inputs.size());
    for (std::size_t i = 0; i < needs.size(); ++i) needs[i] = node->inputs[i].requires_grad();
    std::vector<Tensor> in_grads = node->backward(g, needs);
    g = Tensor();  // a gradient passed straight through is then solely in_grads'
    QS_CHECK(in_grads.size() == node->inputs.size(),
             "backward: '{}' returned {} gradients for {} inputs", node->name, in_grads.size(),
             node->inputs.size());
    for (std::size_t i = 0; i < in_grads.size(); ++i) {
      const Var& in = node->inputs[i];
      const Tensor& gi = in_grads[i];
      if (!needs[i] || !gi.defined()) continue;
      QS_CHECK(gi.shape() == in.shape(), "backward: '{}' gave gradient {} for input {} of {}",
               node->name, engine::describe(gi), i, engine::describe(in.data()));
      if (in.is_leaf()) {
        accumulate_leaf(in.impl(), std::move(in_grads[i]));
      } else {
        Node* child = in.grad_fn().get();
        auto [slot, fresh] = grads.try_emplace(child, gi);
        if (!fresh) slot->second = accumulate(std::move(slot->second), gi);
      }
    }
    if (!retain_graph) node->backward = nullptr;  // frees the saved tensors
    done_with(node);
  }
}

}  // namespace qs::autograd
