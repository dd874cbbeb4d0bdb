#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine {

namespace {
void check_state(const char* op, const Tensor& param, const Tensor& t, const char* what) {
  QS_CHECK(t.defined() && t.shape() == param.shape() && t.dtype() == param.dtype() &&
               t.is_contiguous(),
           "{}: {} must be a contiguous {} like the parameter, got {}", op, what,
           describe(param), describe(t));
}
}  // namespace

void adamw_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
                 double weight_decay, int64_t step) {
  QS_CHECK(param.defined() && param.is_contiguous(), "adamw_step_: parameter {} must be contiguous",
           describe(param));
  check_state("adamw_step_", param, grad, "grad");
  check_state("adamw_step_", param, exp_avg, "exp_avg");
  check_state("adamw_step_", param, exp_avg_sq, "exp_avg_sq");
  QS_CHECK(step >= 1, "adamw_step_: step counts from 1, got {}", step);
  Device dev = op_device("adamw_step_", {&param, &grad, &exp_avg, &exp_avg_sq});
  QS_KERNEL(dev, Op::adamw_step_,
            adamw_step(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step));
}

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, double lr,
               double momentum, double weight_decay) {
  QS_CHECK(param.defined() && param.is_contiguous(), "sgd_step_: parameter {} must be contiguous",
           describe(param));
  check_state("sgd_step_", param, grad, "grad");
  if (momentum_buf.defined()) check_state("sgd_step_", param, momentum_buf, "momentum buffer");
  Device dev = op_device("sgd_step_", {&param, &grad, &momentum_buf});
  QS_KERNEL(dev, Op::sgd_step_, sgd_step(param, grad, momentum_buf, lr, momentum, weight_decay));
}

}  // namespace qs::engine
