#include "nn/mlp.h"

#include "autograd/functions.h"

namespace qs::nn {

namespace ag = qs::autograd;

GeluMlp::GeluMlp(int64_t dim, int64_t hidden, bool bias, engine::Generator& gen,
                 const InitConfig& init, GeluKind kind)
    : kind_(kind) {
  register_module("fc1", std::make_shared<Linear>(dim, hidden, bias, gen, init.std));
  register_module("fc2", std::make_shared<Linear>(hidden, dim, bias, gen, init.residual_std()));
}

Var GeluMlp::forward(const Var& x) {
  const Var h = child<LinearLayer>("fc1").forward(x);
  const Var a = kind_ == GeluKind::quick ? ag::quick_gelu(h)
                                         : ag::gelu(h, kind_ == GeluKind::tanh ? engine::GeluApprox::tanh
                                                                               : engine::GeluApprox::erf);
  return child<LinearLayer>("fc2").forward(a);
}

SwiGlu::SwiGlu(int64_t dim, int64_t hidden, engine::Generator& gen, const InitConfig& init) {
  register_module("gate_proj", std::make_shared<Linear>(dim, hidden, false, gen, init.std));
  register_module("up_proj", std::make_shared<Linear>(dim, hidden, false, gen, init.std));
  register_module("down_proj", std::make_shared<Linear>(hidden, dim, false, gen, init.residual_std()));
}

Var SwiGlu::forward(const Var& x) {
  return child<LinearLayer>("down_proj").forward(
      ag::swiglu(child<LinearLayer>("gate_proj").forward(x), child<LinearLayer>("up_proj").forward(x)));
}

int64_t llama_hidden_size(int64_t dim, int64_t multiple) {
  int64_t h = (2 * 4 * dim + 2) / 3;  // ceil(8 dim / 3)
  return (h + multiple - 1) / multiple * multiple;
}

}  // namespace qs::nn
