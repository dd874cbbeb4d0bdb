#pragma once
// A forward hook on a linear layer: HookedLinear wraps any LinearLayer and
// calls `hook(path, input, output)` on every forward, so activations can be
// inspected (outlier statistics, debugging) without touching model code.
// Installed by module surgery, like quantization; removed by unhook_linears.
#include <functional>
#include <string>

#include "nn/linear.h"

namespace qs::nn {

using LinearHook = std::function<void(const std::string& path, const Var& input, const Var& output)>;

class HookedLinear : public LinearLayer {
 public:
  HookedLinear(std::shared_ptr<LinearLayer> base, std::string path, LinearHook hook);
  Var forward(const Var& x) override;
  int64_t in_features() const override { return base().in_features(); }
  int64_t out_features() const override { return base().out_features(); }
  Tensor effective_weight() const override { return base().effective_weight(); }
  LinearLayer& base() const { return child<LinearLayer>("base"); }
  std::shared_ptr<Module> base_ptr() const { return children().front().second; }

 private:
  std::string path_;
  LinearHook hook_;
};

// Wraps every linear layer below root whose dotted path satisfies `select`;
// returns the paths hooked. The wrapped layer keeps its parameters' paths
// under "<path>.base." while hooked.
std::vector<std::string> hook_linears(Module& root, const std::function<bool(const std::string&)>& select,
                                      const LinearHook& hook);
// Puts every hooked layer's original back.
void unhook_linears(Module& root);

}  // namespace qs::nn
