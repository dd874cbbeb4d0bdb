// Every case of the all-ops harness (tests/harness/op_cases.h) on the GPU
// against the CPU kernel: outputs on contiguous and strided inputs, and the
// gradients of each differentiable op (its backward kernels on both devices).
#include "autograd/functions.h"
#include "cuda_support.h"
#include "harness/op_cases.h"

using namespace qs::test;
namespace e = qs::engine;
namespace ag = qs::autograd;

namespace {

// Gradients of sum(f(inputs) * r) for a fixed random r, computed on `device`.
Tensors gradients(const VarFn& f, const Tensors& in, e::Device device) {
  std::vector<ag::Var> v;
  for (const Tensor& x : on_device(in, device)) v.emplace_back(x, e::is_floating(x.dtype()));
  ag::Var y = f(v);
  e::Generator rg(7);
  ag::sum(y * ag::Var(e::randn(y.shape(), rg, y.data().dtype()).to(device))).backward();
  Tensors g;
  for (auto& x : v) g.push_back(x.grad().defined() ? x.grad() : Tensor());
  return g;
}

}  // namespace

TEST_CASE("cuda: every op of the all-ops harness matches the CPU, values and gradients") {
  if (!have_gpu()) return;
  const e::Device dev = e::Device::cuda();
  for (const OpCase& c : op_cases()) {
    INFO("case: ", c.label);
    for (DType dt : c.dtypes) {
      INFO("dtype ", std::string(e::dtype_name(dt)));
      const double tol = dt == DType::f64 ? 1e-10 : 2e-5;
      e::Generator gen(42);
      const Tensors in = c.inputs(gen, dt, 1);
      const Tensors want = c.run(in, e::Device::cpu());
      check_outputs(c.run(on_device(in, dev), dev), want, tol);
      if (c.strided) check_outputs(c.run(on_device(strided_views(in), dev), dev), want, tol);
      if (c.grad) {
        const Tensors gin = with_dtype(c.inputs(gen, c.grad_dtype, 1), c.grad_dtype);
        const Tensors gc = gradients(c.grad, gin, e::Device::cpu()), gg = gradients(c.grad, gin, dev);
        for (std::size_t i = 0; i < gc.size(); ++i) {
          INFO("gradient of input ", i);
          if (gc[i].defined()) check_outputs({gg[i]}, {gc[i]}, c.grad_dtype == DType::f64 ? 1e-9 : 1e-4);
        }
      }
    }
  }
}
