#pragma once
// Finite-difference gradient check in f64: compares backward() with central
// differences of sum(f(inputs) * r) for a fixed random r, so every output
// element's Jacobian row takes part.
#include <functional>
#include <string>
#include <vector>

#include "autograd/var.h"

namespace qs::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-4;
  uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // the first mismatch: input, element, analytic, numeric
};

// Inputs that are f64 get gradients checked; other dtypes (indices) are passed
// through as constants. Inputs may be non-contiguous views.
GradcheckResult gradcheck(const std::function<Var(const std::vector<Var>&)>& f,
                          const std::vector<Tensor>& inputs, GradcheckOptions options = {});
// Also checks `params`: f64 leaves that f uses internally (a module's
// parameters), perturbed in place. Their grads are overwritten.
GradcheckResult gradcheck(const std::function<Var(const std::vector<Var>&)>& f,
                          const std::vector<Tensor>& inputs, const std::vector<Var>& params,
                          GradcheckOptions options = {});

}  // namespace qs::autograd
