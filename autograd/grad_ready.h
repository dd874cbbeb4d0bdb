#pragma once
// A per-thread hook that backward calls with each leaf as soon as this
// backward has finished accumulating its gradient, while the rest of the
// graph is still being differentiated: data-parallel training all-reduces
// finished gradients then, overlapping communication with compute.
//
// Only the outermost backward reports (leaves inside activation-checkpointed
// segments are differentiated by a nested backward and are not reported); a
// leaf whose gradient would change after it was reported is an error, never a
// silently stale all-reduce.
#include <functional>

#include "autograd/var.h"

namespace qs::autograd {

class GradReadyHook {
 public:
  explicit GradReadyHook(std::function<void(VarImpl* leaf)> on_ready);
  ~GradReadyHook();
  GradReadyHook(const GradReadyHook&) = delete;
  GradReadyHook& operator=(const GradReadyHook&) = delete;

 private:
  std::function<void(VarImpl*)> on_ready_;
  std::function<void(VarImpl*)>* previous_;
};

}  // namespace qs::autograd
