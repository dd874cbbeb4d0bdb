#include "nn/module.h"

#include <algorithm>
#include <set>

#include "engine/ops.h"

namespace qs::nn {

namespace {
void check_name(const std::string& name, const char* what) {
  QS_CHECK(!name.empty() && name.find('.') == std::string::npos,
           "Module: {} name '{}' must be non-empty and contain no '.'", what, name);
}
std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

Var Module::register_parameter(const std::string& name, const Tensor& init, bool requires_grad) {
  check_name(name, "parameter");
  for (auto& [n, v] : params_) QS_CHECK(n != name, "Module: parameter '{}' registered twice", name);
  Var v(init, requires_grad);
  params_.emplace_back(name, v);
  return v;
}

void Module::register_buffer(const std::string& name, const Tensor& value) {
  check_name(name, "buffer");
  for (auto& [n, t] : buffers_) QS_CHECK(n != name, "Module: buffer '{}' registered twice", name);
  buffers_.emplace_back(name, value);
}

void Module::set_buffer(const std::string& name, const Tensor& value) {
  for (auto& [n, t] : buffers_) {
    if (n == name) {
      t = value;
      return;
    }
  }
  register_buffer(name, value);
}

Tensor Module::buffer(const std::string& name) const {
  for (auto& [n, t] : buffers_) {
    if (n == name) return t;
  }
  fail("Module: no buffer named '{}'", name);
}

void Module::remove_parameter(const std::string& name) {
  auto it = std::find_if(params_.begin(), params_.end(), [&](auto& p) { return p.first == name; });
  QS_CHECK(it != params_.end(), "Module: no parameter named '{}' to remove", name);
  params_.erase(it);
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_name(name, "module");
  QS_CHECK(module != nullptr, "Module: child '{}' is null", name);
  for (auto& [n, m] : children_) QS_CHECK(n != name, "Module: child '{}' registered twice", name);
  children_.emplace_back(name, std::move(module));
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> module) {
  QS_CHECK(module != nullptr, "Module: replacement for '{}' is null", name);
  for (auto& [n, m] : children_) {
    if (n == name) {
      m = std::move(module);
      return;
    }
  }
  fail("Module: no child named '{}' to replace", name);
}

void Module::collect_parameters(const std::string& prefix,
                                std::vector<std::pair<std::string, Var>>& out) const {
  for (auto& [n, v] : params_) out.emplace_back(join(prefix, n), v);
  for (auto& [n, m] : children_) m->collect_parameters(join(prefix, n), out);
}

void Module::collect_buffers(const std::string& prefix,
                             std::vector<std::pair<std::string, Tensor>>& out) const {
  for (auto& [n, t] : buffers_) out.emplace_back(join(prefix, n), t);
  for (auto& [n, m] : children_) m->collect_buffers(join(prefix, n), out);
}

namespace {
// Depth first in registration order: each module's subtree right after it.
template <class M>
void collect_modules(const std::string& path, M* m, std::vector<std::pair<std::string, M*>>& out) {
  out.emplace_back(path, m);
  for (auto& [n, child] : m->children()) collect_modules<M>(join(path, n), child.get(), out);
}
}  // namespace

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  collect_modules<const Module>("", this, out);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  collect_modules<Module>("", this, out);
  return out;
}

std::vector<std::pair<std::string, Var>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Var>> out;
  collect_parameters("", out);
  return out;
}

std::vector<Var> Module::parameters() const {
  std::vector<Var> out;
  for (auto& [n, v] : named_parameters()) out.push_back(v);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_buffers("", out);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::set_requires_grad(bool on) {
  for (auto& [n, v] : named_parameters()) v.set_requires_grad(on);
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  for (auto& [n, v] : named_parameters()) out[n] = v.data();
  for (auto& [n, t] : named_buffers()) out[n] = t;
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  StateSource source{.origin = "load_state_dict"};
  for (const auto& [name, t] : state) source.names.push_back(name);
  source.header = [&](const std::string& name) {
    const Tensor& t = state.at(name);
    return std::make_pair(t.shape(), t.dtype());
  };
  source.read = [&](const std::string& name) { return state.at(name); };
  load_state(source, strict);
}

void Module::load_state(const StateSource& source, bool strict) {
  const std::set<std::string> available(source.names.begin(), source.names.end());
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  // Check everything first: a failed load must leave the module untouched.
  std::vector<std::pair<Tensor, std::string>> copies;
  auto check_one = [&](const std::string& name, const Tensor& current) {
    if (!available.count(name)) {
      missing.push_back(name);
      return;
    }
    used.insert(name);
    const auto [shape, dtype] = source.header(name);
    const bool dtype_ok = dtype == current.dtype() ||
                          (source.widen_floats && engine::is_floating(dtype) && engine::is_floating(current.dtype()));
    if (shape != current.shape() || !dtype_ok) {
      mismatched.push_back(fmt::format("{} (expected {}, got {}{})", name, engine::describe(current),
                                       engine::dtype_name(dtype), engine::shape_str(shape)));
      return;
    }
    copies.emplace_back(current, name);
  };
  for (auto& [n, v] : named_parameters()) check_one(n, v.data());
  for (auto& [n, b] : named_buffers()) check_one(n, b);
  std::vector<std::string> unexpected;
  for (const std::string& n : source.names) {
    if (!used.count(n)) unexpected.push_back(n);
  }
  std::string problems;
  if (!mismatched.empty()) problems += fmt::format("; mis-shaped: {}", fmt::join(mismatched, ", "));
  if (strict && !missing.empty()) problems += fmt::format("; missing: {}", fmt::join(missing, ", "));
  if (strict && !unexpected.empty()) {
    problems += fmt::format("; unexpected: {}", fmt::join(unexpected, ", "));
  }
  QS_CHECK(problems.empty(), "{}: {}", source.origin, problems.substr(2));
  for (auto& [dst, name] : copies) engine::copy_(dst, source.read(name));
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (auto& [name, v] : named_parameters()) {
    if (!trainable_only || v.requires_grad()) n += v.numel();
  }
  return n;
}

void Module::to(DType dtype) {
  for (auto& [n, v] : params_) {
    if (engine::is_floating(v.dtype())) v.set_data(v.data().to(dtype));
  }
  for (auto& [n, t] : buffers_) {
    if (engine::is_floating(t.dtype())) t = t.to(dtype);
  }
  for (auto& [n, m] : children_) m->to(dtype);
}

void Module::to(Device device) {
  for (auto& [n, v] : params_) {
    if (v.data().device() == device) continue;
    v.set_data(v.data().to(device));
    v.zero_grad();
  }
  for (auto& [n, t] : buffers_) t = t.to(device);
  for (auto& [n, m] : children_) m->to(device);
}

Module& Module::submodule(const std::string& path) {
  if (path.empty()) return *this;
  std::size_t dot = path.find('.');
  std::string head = path.substr(0, dot);
  for (auto& [n, m] : children_) {
    if (n == head) return dot == std::string::npos ? *m : m->submodule(path.substr(dot + 1));
  }
  fail("Module: no submodule '{}' (in path '{}')", head, path);
}

Var Module::parameter(const std::string& path) const {
  for (auto& [n, v] : named_parameters()) {
    if (n == path) return v;
  }
  fail("Module: no parameter '{}'", path);
}

}  // namespace qs::nn
