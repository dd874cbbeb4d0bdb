#pragma once
// Differentiable functions on Var. Each family lives in one file with every
// function's forward and backward side by side: elementwise.cpp,
// reduce.cpp, shape.cpp, linalg.cpp, nn.cpp, loss.cpp.
#include <cstdint>
#include <vector>

#include "autograd/var.h"

namespace qs::autograd {

using engine::GeluApprox;

// ---- elementwise (NumPy broadcasting; gradients summed back to each input's shape)
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var add(const Var& a, double b);
Var mul(const Var& a, double b);
Var pow(const Var& a, const Var& b);  // a > 0 where b's gradient is needed
Var pow(const Var& a, double p);
Var neg(const Var& x);
Var exp(const Var& x);
Var log(const Var& x);
Var sqrt(const Var& x);
Var rsqrt(const Var& x);
Var tanh(const Var& x);
Var sigmoid(const Var& x);
Var relu(const Var& x);
Var gelu(const Var& x, GeluApprox approx = GeluApprox::erf);
Var silu(const Var& x);
Var quick_gelu(const Var& x);  // x sigmoid(1.702 x), CLIP's activation
Var abs(const Var& x);
// No gradient where x is clipped (METHOD.md's quantizer relies on this).
Var clamp(const Var& x, double lo, double hi);
// Straight-through estimator: rounds forward, passes the gradient unchanged.
Var round_ste(const Var& x);
Var where(const Tensor& cond, const Var& a, const Var& b);
Var masked_fill(const Var& x, const Tensor& mask, double value);

inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }
inline Var operator/(const Var& a, const Var& b) { return div(a, b); }
inline Var operator-(const Var& x) { return neg(x); }
inline Var operator+(const Var& a, double b) { return add(a, b); }
inline Var operator-(const Var& a, double b) { return add(a, -b); }
inline Var operator*(const Var& a, double b) { return mul(a, b); }
inline Var operator*(double a, const Var& b) { return mul(b, a); }
inline Var operator/(const Var& a, double b) { return mul(a, 1.0 / b); }

// ---- reductions
Var sum(const Var& x);
Var sum(const Var& x, int64_t dim, bool keepdim = false);
Var sum(const Var& x, const std::vector<int64_t>& dims, bool keepdim = false);
Var mean(const Var& x);
Var mean(const Var& x, int64_t dim, bool keepdim = false);
Var max(const Var& x);  // gradient to the first maximal element
Var max(const Var& x, int64_t dim, bool keepdim = false);
Var var(const Var& x, int64_t dim, int64_t correction = 1, bool keepdim = false);
Var var(const Var& x);  // all elements, correction 1

// ---- views and data movement
Var reshape(const Var& x, const Shape& shape);
Var transpose(const Var& x, int64_t d0, int64_t d1);
Var permute(const Var& x, const std::vector<int64_t>& dims);
Var slice(const Var& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Var expand(const Var& x, const Shape& shape);
Var unsqueeze(const Var& x, int64_t dim);
Var squeeze(const Var& x, int64_t dim);
Var contiguous(const Var& x);
Var concat(const std::vector<Var>& xs, int64_t dim);
Var index_select(const Var& x, int64_t dim, const Tensor& idx);

// ---- linear algebra
Var matmul(const Var& a, const Var& b);
// dropout(x, p, gen) b with b a matrix, as the two functions compose, but the
// graph keeps x and the u8 mask, not the dropped f32 copy: the backward
// rebuilds it from the two (redrawing the mask instead cost LoRA's step 25%:
// Philox is dear). LoRA's down-projection, where the frozen base layer keeps
// x anyway, so each adapted layer saves four fifths of what dropout held.
Var dropout_matmul(const Var& x, const Var& b, double p, engine::Generator& gen);

// ---- nn
Var softmax(const Var& x);      // last dim
Var log_softmax(const Var& x);  // last dim
// weight/bias may be undefined Vars (no affine part).
Var layer_norm(const Var& x, const Var& weight, const Var& bias, double eps = 1e-5);
Var rms_norm(const Var& x, const Var& weight, double eps = 1e-6);
Var embedding(const Var& weight, const Tensor& ids);
Var rope(const Var& x, const Tensor& positions, double theta = 10000.0, double position_scale = 1.0);
// silu(gate) * up in one op (LLaMA's MLP).
Var swiglu(const Var& gate, const Var& up);
// Inverted dropout (engine::dropout) with the next x.numel() positions of
// gen; the backward pass reads the u8 mask the forward wrote.
Var dropout(const Var& x, double p, engine::Generator& gen);
// softmax(scale q k^T + mask) v without the score matrix (engine::attention_forward).
// Grouped-query attention: k and v may have fewer heads than q (H_kv dividing
// H); query head h then attends with key/value head h / (H / H_kv).
Var attention(const Var& q, const Var& k, const Var& v, double scale, bool causal,
              const Tensor& key_padding = Tensor());
// (B, H_kv, S, d) -> (B, heads, S, d), each key/value head repeated for the
// heads / H_kv query heads that share it; the gradient sums over them.
Var repeat_kv(const Var& kv, int64_t heads);
Var cross_entropy(const Var& logits, const Tensor& targets, int64_t ignore_index = -100);
// Group-wise fake quantization on a frozen grid with straight-through
// gradients to w and alpha (engine::fake_quantize_grid); alpha may be an
// undefined Var (1).
Var fake_quantize_grid(const Var& w, const Tensor& scale, const Tensor& zero, const Var& alpha, double levels,
                       int64_t group_size);

}  // namespace qs::autograd
