#include "nn/hooks.h"

namespace qs::nn {

HookedLinear::HookedLinear(std::shared_ptr<LinearLayer> base, std::string path, LinearHook hook)
    : path_(std::move(path)), hook_(std::move(hook)) {
  register_module("base", std::move(base));
}

Var HookedLinear::forward(const Var& x) {
  Var y = base().forward(x);
  if (hook_) hook_(path_, x, y);
  return y;
}

namespace {
void visit(Module& m, const std::string& prefix, const std::function<bool(const std::string&)>& select,
           const LinearHook& hook, std::vector<std::string>& done) {
  for (auto& [name, child] : std::vector(m.children())) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    if (auto lin = std::dynamic_pointer_cast<LinearLayer>(child); lin && select(path)) {
      m.replace_child(name, std::make_shared<HookedLinear>(lin, path, hook));
      done.push_back(path);
    } else {
      visit(*child, path, select, hook, done);
    }
  }
}
}  // namespace

std::vector<std::string> hook_linears(Module& root, const std::function<bool(const std::string&)>& select,
                                      const LinearHook& hook) {
  std::vector<std::string> done;
  visit(root, "", select, hook, done);
  return done;
}

void unhook_linears(Module& root) {
  for (auto& [name, child] : std::vector(root.children())) {
    if (auto* hooked = dynamic_cast<HookedLinear*>(child.get())) {
      root.replace_child(name, hooked->base_ptr());
    } else {
      unhook_linears(*child);
    }
  }
}

}  // namespace qs::nn
