#include "nn/hooks.h"

#include "nn/replace.h"

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

std::vector<std::string> hook_linears(Module& root, const std::function<bool(const std::string&)>& select,
                                      const LinearHook& hook) {
  return replace_linears(root, select, [&](const std::shared_ptr<LinearLayer>& layer, const std::string& path) {
    return std::make_shared<HookedLinear>(layer, path, hook);
  });
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
