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

// attention_forward/backward for f32 through the packed GEMM, a tile of
// queries at a time (attention_f32.cpp); attention.cpp uses them when the GEMM
// is available and keeps its double-precision row loop as the reference.
void attention_forward_f32(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, int64_t t, int64_t s,
                           double scale, bool causal, const Tensor& key_padding, const Tensor& out, const Tensor& lse);
void attention_backward_f32(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                            const Tensor& lse, int64_t heads, int64_t t, int64_t s, double scale, bool causal,
                            const Tensor& key_padding, const Tensor& dq, const Tensor& dk, const Tensor& dv);
// The double-precision row loop for every dtype (what the tests compare the
// f32 kernels with).
void attention_forward_reference(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, int64_t t,
                                 int64_t s, double scale, bool causal, const Tensor& key_padding, const Tensor& out,
                                 const Tensor& lse);
void attention_backward_reference(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& out, const Tensor& lse, int64_t heads, int64_t t, int64_t s,
                                  double scale, bool causal, const Tensor& key_padding, const Tensor& dq,
                                  const Tensor& dk, const Tensor& dv);

}  // namespace qs::engine::cpu
