// Rotary position embedding (engine/ops_rope.cpp).
#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var rope(const Var& x, const Tensor& positions, double theta, double position_scale) {
  // A rotation: its transpose (the backward) is the rotation by minus the angle.
  return make_result(e::rope(x.data(), positions, theta, false, position_scale), "rope", {x},
                     [positions, theta, position_scale](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{e::rope(g, positions, theta, true, position_scale)};
                     });
}

}  // namespace qs::autograd
