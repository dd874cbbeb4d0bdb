#pragma once
// The all-ops harness (ggml's test-backend-ops is the model): one or more
// cases for every row of engine/op_table.h, each with random inputs, the op's
// call and what to hold it to. tests/harness/test_all_ops.cpp runs them on
// the CPU (f32 against f64 or a composed twin, strided views against
// contiguous inputs, gradients), tests/cuda/test_all_ops.cpp on a GPU
// against the CPU, and `./qslaw bench ops` times them at larger sizes.
#include <functional>
#include <string>
#include <vector>

#include "autograd/var.h"
#include "engine/op_table.h"
#include "engine/ops.h"

namespace qs::test {

using engine::Device;
using engine::DType;
using engine::Tensor;
using Tensors = std::vector<Tensor>;
using VarFn = std::function<autograd::Var(const std::vector<autograd::Var>&)>;

struct OpCase {
  engine::Op op{};
  std::string label{};  // "unary exp", "dequantize_packed 3-bit"
  // Random inputs on the CPU: floating ones in `dtype`, indices and codes in
  // their own; sizes grow with n (1 in the test suites).
  std::function<Tensors(engine::Generator& gen, DType dtype, int64_t n)> inputs{};
  // Calls the op on inputs (any device, any layout); returns its outputs.
  // `device` is where factories create their outputs.
  std::function<Tensors(const Tensors& in, Device device)> run{};
  // A composed twin (the same result from other ops, in f64), or empty: then
  // the op's own f64 kernel is the reference for f32.
  std::function<Tensors(const Tensors& in)> twin{};
  // The autograd function of the op; its gradient is checked (gradcheck, or
  // against grad_twin where the op's gradient is by design not the
  // derivative: straight-through estimators).
  VarFn grad{};
  VarFn grad_twin{};
  // Properties that hold however the outputs are computed (distributions of
  // random numbers); CHECKs inside.
  std::function<void(const Tensors& in, const Tensors& out)> property{};
  std::vector<DType> dtypes{DType::f32, DType::f64};
  // Whether the op's f64 result is a reference for its f32 one (not for
  // random numbers: f64 draws use more bits of each counter).
  bool f64_reference = true;
  DType grad_dtype = DType::f64;  // gradcheck needs f64; a grad_twin may compare in f32
  double tol = 2e-5;     // f32 against the f64 reference, relative and absolute
  bool strided = true;   // the op takes inputs with any strides
};

const std::vector<OpCase>& op_cases();

// The same values as a non-contiguous view (transposed storage), for every
// floating input of rank >= 2; others unchanged.
Tensors strided_views(const Tensors& xs);
// Each tensor converted to dtype where it is floating.
Tensors with_dtype(const Tensors& xs, DType dtype);
Tensors on_device(const Tensors& xs, Device device);
// CHECKs each output against its reference (on any devices): floating ones
// within tol (relative and absolute), others equal.
void check_outputs(const Tensors& got, const Tensors& want, double tol);

}  // namespace qs::test
