// Rotary position embedding (engine/ops_rope.cpp).
#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var rope(const Var& x, const Tensor& positions, double theta) {
  // A rotation: its transpose (the backward) is the rotation by minus the angle.
  return make_result(e::rope(x.data(), positions, theta, false), "rope", {x},
                     [positions, theta](const Tensor& g, const std::vector<bool>&) {
                       return std::vector<Tensor>{e::rope(g, positions, theta, true)};
                     });
}

}  // namespace qs::autograd
