#pragma once
// CPU kernels. Arguments are checked by engine/ops; outputs are allocated
// there, contiguous, with the shapes given in the comments.
#include <cstdint>

#include "engine/ops.h"

namespace qs::engine::cpu {

void unary(UnaryOp op, const Tensor& x, const Tensor& out);              // out: x.shape
void clamp(const Tensor& x, double lo, double hi, const Tensor& out);    // out: x.shape
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);  // out: broadcast
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
void copy(const Tensor& dst, const Tensor& src);  // src: any strides, broadcast to dst.shape
void fill(const Tensor& dst, double value);
void rand_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi);
void rand_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std);

using engine::ReduceOp;
// x: contiguous (outer, n, inner) -> out: (outer, inner); indices (i64, same
// shape as out) for max/min, may be undefined.
void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
            const Tensor& out, const Tensor& indices, int64_t correction);

// a: (B, M, K), b: (B, K, N) after broadcasting (any strides), out: (B, M, N) contiguous.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);
// The same product through Eigen alone (contiguous copies, no packed GEMM): the
// reference the packed kernel is tested against.
void matmul_reference(const Tensor& a, const Tensor& b, const Tensor& out);

// x, y, dy, dx: contiguous (rows, D).
void softmax(const Tensor& x, const Tensor& out, bool log);
void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool log);
// x: (rows, D) contiguous; weight/bias (D) or undefined; mean/rstd: (rows).
void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& rstd);
void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& rstd, const Tensor& dx,
                         const Tensor& dweight, const Tensor& dbias);
void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& y,
              const Tensor& rstd);
void rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                       const Tensor& rstd, const Tensor& dx, const Tensor& dweight);

// x: contiguous (outer, n, inner); idx: contiguous i64 (L) already range-checked;
// out: (outer, L, inner).
void index_select(const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Tensor& idx,
                  const Tensor& out);
// dst: contiguous (outer, n, inner); src: contiguous (outer, L, inner).
void index_add(const Tensor& dst, int64_t outer, int64_t n, int64_t inner, const Tensor& idx,
               const Tensor& src);

// x, out: contiguous (rows, T, D); positions: contiguous i64 (T).
void rope(const Tensor& x, const Tensor& positions, double theta, bool inverse,
          const Tensor& out);

// logits: contiguous (N, V); targets: contiguous i64 (N), range-checked.
// loss: rank-0; dlogits: (N, V).
void cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                   const Tensor& loss);
void cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                            double grad, const Tensor& dlogits);

// SwiGLU: y = silu(gate) * up; backward dgate = dy * up * silu'(gate),
// dup = dy * silu(gate). All contiguous, same shape.
void swiglu(const Tensor& gate, const Tensor& up, const Tensor& y);
void swiglu_backward(const Tensor& dy, const Tensor& gate, const Tensor& up, const Tensor& dgate,
                     const Tensor& dup);

// Attention without the (T, S) score matrix; see engine/ops.h. q: (B, H, T, d),
// k, v: (B, H, S, d), out like q, lse (B, H, T) (f64 for f64 inputs, else
// f32), key_padding u8 (B, S) or undefined; all contiguous.
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, int64_t t,
                       int64_t s, double scale, bool causal, const Tensor& key_padding,
                       const Tensor& out, const Tensor& lse);
void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, int64_t heads, int64_t t, int64_t s,
                        double scale, bool causal, const Tensor& key_padding, const Tensor& dq,
                        const Tensor& dk, const Tensor& dv);

// Packed 4-bit weights; see engine/ops.h. x: f32 (n, in), packed: u8 (out, in/2),
// scale/zero: f32 (out, groups), all contiguous; y: (n, out), w: (out, in).
void matvec_4bit(const Tensor& x, const Tensor& packed, const Tensor& scale, const Tensor& zero,
                 int64_t group_size, const Tensor& y);
void dequantize_packed(const Tensor& packed, const Tensor& scale, const Tensor& zero, int bits,
                       int64_t group_size, const Tensor& w);

// Optimizer updates; see engine/ops.h.
void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
                double weight_decay, int64_t step);
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, double lr,
              double momentum, double weight_decay);

}  // namespace qs::engine::cpu
