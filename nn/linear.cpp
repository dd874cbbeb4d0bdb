#include "nn/linear.h"

#include <cmath>

#include "autograd/functions.h"
#include "nn/init.h"

namespace qs::nn {

namespace ag = qs::autograd;
namespace e = qs::engine;

double InitConfig::residual_std() const {
  return scaled_residual ? std / std::sqrt(2.0 * static_cast<double>(n_layers)) : std;
}

Linear::Linear(int64_t in, int64_t out, bool with_bias, e::Generator& gen, double std) {
  // std 0: zeros without drawing (a model about to be loaded skips the draws).
  weight = register_parameter("weight", std > 0 ? e::randn({out, in}, gen, DType::f32, 0.0, std) : e::zeros({out, in}));
  if (with_bias) bias = register_parameter("bias", e::zeros({out}));
}

Var Linear::forward(const Var& x) {
  QS_CHECK(x.size(-1) == in_features(), "Linear: input {} does not end in in_features = {}",
           engine::describe(x.data()), in_features());
  Var y = ag::matmul(x, ag::transpose(weight, 0, 1));
  return bias.defined() ? y + bias : y;
}

Embedding::Embedding(int64_t num, int64_t dim, e::Generator& gen, double std) {
  weight = register_parameter("weight", std > 0 ? e::randn({num, dim}, gen, DType::f32, 0.0, std) : e::zeros({num, dim}));
}

Var Embedding::forward(const Tensor& ids) { return ag::embedding(weight, ids); }

RMSNorm::RMSNorm(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", e::ones({dim}));
}
Var RMSNorm::forward(const Var& x) { return ag::rms_norm(x, weight, eps); }

LayerNorm::LayerNorm(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", e::ones({dim}));
  bias = register_parameter("bias", e::zeros({dim}));
}
Var LayerNorm::forward(const Var& x) { return ag::layer_norm(x, weight, bias, eps); }

Dropout::Dropout(double p_, uint64_t seed) : p(p_), gen_(seed) {
  QS_CHECK(p >= 0.0 && p < 1.0, "Dropout: p must be in [0, 1), got {}", p);
}

Var Dropout::forward(const Var& x) {
  if (!is_training() || p == 0.0) return x;
  // The mask is drawn where x lives; the numbers are the same on every device.
  return ag::dropout(x, p, gen_);
}

Var Dropout::forward_matmul(const Var& x, const Var& w) {
  if (!is_training() || p == 0.0) return ag::matmul(x, w);
  return ag::dropout_matmul(x, w, p, gen_);
}

}  // namespace qs::nn
