// Engine and autograd together: a 3-layer MLP trained with plain SGD on a
// synthetic regression task must cut its loss by at least 10x.
#include "autograd/functions.h"
#include "support.h"

using namespace qs::autograd;
namespace e = qs::engine;

TEST_CASE("a 3-layer MLP learns a smooth regression task with SGD") {
  e::Generator gen(7);
  const int64_t n = 256, d_in = 4, hidden = 32;
  Tensor x = e::randn({n, d_in}, gen);
  // Target: a smooth nonlinear function of the inputs.
  Tensor xs0 = x.slice(1, 0, 1), xs1 = x.slice(1, 1, 2), xs2 = x.slice(1, 2, 3);
  Tensor target = e::add(e::tanh(e::add(xs0, xs1 * 0.5)), e::mul(xs2, xs2) * 0.3);

  auto init = [&](int64_t fan_in, int64_t fan_out) {
    return Var(e::randn({fan_in, fan_out}, gen, DType::f32, 0.0, 1.0 / std::sqrt(double(fan_in))), true);
  };
  std::vector<Var> params{init(d_in, hidden), Var(e::zeros({hidden}), true),
                          init(hidden, hidden), Var(e::zeros({hidden}), true),
                          init(hidden, 1),      Var(e::zeros({1}), true)};
  auto forward = [&](const Tensor& input) {
    Var h = tanh(matmul(Var(input), params[0]) + params[1]);
    h = tanh(matmul(h, params[2]) + params[3]);
    return matmul(h, params[4]) + params[5];
  };
  auto loss_of = [&]() { return mean(pow(forward(x) - Var(target), 2.0)); };

  const double initial = loss_of().data().item<double>();
  const double lr = 0.1;
  for (int step = 0; step < 1500; ++step) {
    Var loss = loss_of();
    for (const Var& p : params) p.zero_grad();
    loss.backward();
    NoGrad no_grad;
    for (const Var& p : params) p.set_data(e::sub(p.data(), p.grad() * lr));
  }
  const double final_loss = loss_of().data().item<double>();
  MESSAGE("MLP loss " << initial << " -> " << final_loss << " (" << initial / final_loss << "x)");
  CHECK(final_loss * 10.0 < initial);
}
