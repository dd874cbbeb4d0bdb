#pragma once
// CPU kernels: the list in engine/kernel_list.inc, plus the reference GEMM.
// CPU kernels compute in f32/f64; bf16/f16 are only converted by copy.
#include <cstdint>

#include "engine/ops.h"

namespace qs::engine::cpu {

using engine::ReduceOp;
#include "engine/kernel_list.inc"

// The product of matmul through Eigen alone (contiguous copies, no packed
// GEMM): the reference the packed kernel is tested against.
void matmul_reference(const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace qs::engine::cpu
