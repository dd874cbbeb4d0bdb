#pragma once
// Engine ops (no autograd). Each op checks its arguments once, naming the op
// and the shapes/dtypes on error, allocates its output and runs the kernel of
// the device its inputs live on (engine/backend.h).
#include <cstdint>
#include <vector>

#include "engine/op_table.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace qs::engine {

// ---------------------------------------------------------------- factories
Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
            Device device = Device::cpu());
Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());  // rank 0
// [start, end) in steps of step.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::i64,
              Device device = Device::cpu());
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor full_like(const Tensor& x, double value);
// Uninitialised, with x's shape, dtype, device and, where x's strides lay out
// its elements densely in some order of dims (a transposed view of a
// contiguous tensor), those same strides; otherwise contiguous. Outputs made
// so keep their inputs' layout: heads split from a (B, T, H * d) projection
// come back as a view of a contiguous (B, T, H, d) tensor, with no copy.
Tensor empty_like_layout(const Tensor& x);

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                   Device device = Device::cpu()) {
  QS_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape),
           "from_vector: {} values for shape {} ({} elements)", values.size(), shape_str(shape),
           numel_of(shape));
  Tensor t(shape, dtype_of<T>());
  std::copy(values.begin(), values.end(), t.data<T>());
  return device.is_cpu() ? t : t.to(device);
}
template <class T>
Tensor from_vector(const std::vector<T>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())});
}
// The elements of a tensor in logical (row-major) order, converted to T.
template <class T>
std::vector<T> to_vector(const Tensor& x);

// Uniform in [lo, hi) and normal(mean, std); the generator advances by numel.
// Element i depends only on (seed, offset + i): every device draws the same numbers.
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32, double lo = 0.0,
            double hi = 1.0, Device device = Device::cpu());
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32, double mean = 0.0,
             double std = 1.0, Device device = Device::cpu());
// Inverted dropout with the mask of (seed, offset): element i is kept, times
// 1 / (1 - p), where the uniform number rand() would draw at offset + i
// (f64 numbers for f64 x, f32 otherwise) is >= p. With keep, also returns the
// mask as u8 (a quarter of an f32 mask; redrawing it in the backward pass
// instead made LoRA's step 10% slower: Philox costs more than the bytes).
Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor* keep = nullptr);
Tensor dropout_backward(const Tensor& dy, const Tensor& keep, double p);  // dy * keep / (1 - p)

// -------------------------------------------------------------- elementwise
enum class GeluApprox { erf, tanh };

Tensor unary(UnaryOp op, const Tensor& x);  // floating dtypes
// NumPy broadcasting; both operands must have the same dtype. Comparisons give u8 (0/1).
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, double b);  // b as a rank-0 tensor of a's dtype

inline Tensor neg(const Tensor& x) { return unary(UnaryOp::neg, x); }
inline Tensor exp(const Tensor& x) { return unary(UnaryOp::exp, x); }
inline Tensor log(const Tensor& x) { return unary(UnaryOp::log, x); }
inline Tensor sqrt(const Tensor& x) { return unary(UnaryOp::sqrt, x); }
inline Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::rsqrt, x); }
inline Tensor tanh(const Tensor& x) { return unary(UnaryOp::tanh, x); }
inline Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::sigmoid, x); }
inline Tensor relu(const Tensor& x) { return unary(UnaryOp::relu, x); }
inline Tensor abs(const Tensor& x) { return unary(UnaryOp::abs, x); }
inline Tensor sign(const Tensor& x) { return unary(UnaryOp::sign, x); }
inline Tensor round(const Tensor& x) { return unary(UnaryOp::round, x); }  // half to even
inline Tensor silu(const Tensor& x) { return unary(UnaryOp::silu, x); }
Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::erf);
Tensor gelu_grad(const Tensor& x, GeluApprox approx = GeluApprox::erf);  // d gelu / dx
inline Tensor silu_grad(const Tensor& x) { return unary(UnaryOp::silu_grad, x); }
inline Tensor quick_gelu(const Tensor& x) { return unary(UnaryOp::quick_gelu, x); }  // x sigmoid(1.702 x)
inline Tensor quick_gelu_grad(const Tensor& x) { return unary(UnaryOp::quick_gelu_grad, x); }
Tensor clamp(const Tensor& x, double lo, double hi);

inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, a, b); }
// dst += src in place (src broadcasts to dst; same dtype and device). For
// accumulating gradients: no fresh buffer for the sum.
void add_(const Tensor& dst, const Tensor& src);
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::div, a, b); }
inline Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::pow, a, b); }
inline Tensor pow(const Tensor& a, double b) { return binary(BinaryOp::pow, a, b); }
inline Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::maximum, a, b); }
inline Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::minimum, a, b); }
inline Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::eq, a, b); }
inline Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::ne, a, b); }
inline Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::lt, a, b); }
inline Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::le, a, b); }
inline Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::gt, a, b); }
inline Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::ge, a, b); }
inline Tensor eq(const Tensor& a, double b) { return binary(BinaryOp::eq, a, b); }
inline Tensor lt(const Tensor& a, double b) { return binary(BinaryOp::lt, a, b); }
inline Tensor le(const Tensor& a, double b) { return binary(BinaryOp::le, a, b); }
inline Tensor gt(const Tensor& a, double b) { return binary(BinaryOp::gt, a, b); }
inline Tensor ge(const Tensor& a, double b) { return binary(BinaryOp::ge, a, b); }

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double b) { return binary(BinaryOp::add, a, b); }
inline Tensor operator-(const Tensor& a, double b) { return binary(BinaryOp::sub, a, b); }
inline Tensor operator*(const Tensor& a, double b) { return binary(BinaryOp::mul, a, b); }
inline Tensor operator/(const Tensor& a, double b) { return binary(BinaryOp::div, a, b); }
inline Tensor operator*(double a, const Tensor& b) { return binary(BinaryOp::mul, b, a); }

// cond (u8, nonzero = true) ? a : b, all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// --------------------------------------------------------------- reductions
// Along one dim, several dims, or all of them (rank-0 result).
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x);
struct ValuesIndices {
  Tensor values;
  Tensor indices;  // i64; the first position of the extreme value
};
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
// Variance with Bessel's correction by default (correction = 1).
Tensor var(const Tensor& x, int64_t dim, int64_t correction = 1, bool keepdim = false);
Tensor var(const Tensor& x);  // all elements, correction 1
// Sums x down to `shape` (the inverse of broadcasting `shape` up to x's shape).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ------------------------------------------------------------------- linalg
// a: (..., M, K), b: (..., K, N) -> (..., M, N); batch dims broadcast. A
// transposed view (x.t()) is read in place, without a copy.
Tensor matmul(const Tensor& a, const Tensor& b);

// -------------------------------------------------------------- nn kernels
// Along the last dim. A row that is -inf everywhere (fully masked) gives
// zeros from softmax and -inf from log_softmax, not NaN.
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);
Tensor softmax_backward(const Tensor& y, const Tensor& dy);      // y = softmax(x)
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy);  // y = log_softmax(x)

struct NormForward {
  Tensor y;
  Tensor mean;  // (rows) ; undefined for rms_norm
  Tensor rstd;  // (rows)
};
// x: (..., D), weight/bias: (D) or undefined. Normalises over the last dim.
NormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               double eps);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
struct NormGrads {
  Tensor dx, dweight, dbias;  // dweight/dbias undefined when weight/bias were
};
NormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                              const Tensor& bias, const NormForward& fwd);
NormForward rms_norm_forward(const Tensor& x, const Tensor& weight, double eps);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
NormGrads rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                            const NormForward& fwd);

// weight: (V, D), ids: integer tensor of any shape -> (*ids.shape, D).
Tensor embedding(const Tensor& weight, const Tensor& ids);
// idx: 1-D integer tensor; result has idx.numel() entries along dim.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& idx);
// dst[.., idx[j], ..] += src[.., j, ..] in place (repeated indices accumulate).
void index_add_(const Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);

// Rotary position embedding (rotate-half pairing, LLaMA/HF convention).
// x: (..., T, D) with D even; positions: (T) integer. Pair i of position p
// turns by p * position_scale * theta^(-2i/D); position_scale 1/f is linear
// RoPE scaling by f (Hugging Face's rope_scaling {"type": "linear"}).
// inverse=true rotates back by the same angles, which is the backward pass.
Tensor rope(const Tensor& x, const Tensor& positions, double theta = 10000.0,
            bool inverse = false, double position_scale = 1.0);

// logits: (N, V) floating, targets: (N) integer. Mean over targets that are not
// ignore_index; 0 when every target is ignored.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);
// d loss / d logits, scaled by grad (the upstream gradient of the mean loss).
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                              double grad);

// SwiGLU in one pass: silu(gate) * up, and both gradients of it in one pass
// (gate, up: the same shape and dtype).
Tensor swiglu(const Tensor& gate, const Tensor& up);
struct SwigluGrads {
  Tensor dgate, dup;
};
SwigluGrads swiglu_backward(const Tensor& dy, const Tensor& gate, const Tensor& up);

// ---------------------------------------------------------------- attention
// softmax(scale q k^T + mask) v without ever holding the (T, S) score matrix
// (each query row keeps a running max and sum), for long sequences.
// q: (B, H, T, d), k, v: (B, H, S, d). Query i sees key j unless causal and
// j > i + S - T (queries are the last T positions), or key_padding (u8 (B, S),
// may be undefined or on the CPU) is nonzero at (b, j). A query that sees no
// key gets zeros. lse (B, H, T) is the log-sum-exp of each row's scores, what
// the backward pass recomputes the probabilities from. On the CPU, out and
// the gradients take the layout of q, k, v (empty_like_layout): heads split
// by a transpose go in and come back without a copy.
struct AttentionForward {
  Tensor out;
  Tensor lse;
};
AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                                   bool causal, const Tensor& key_padding = Tensor());
struct AttentionGrads {
  Tensor dq, dk, dv;
};
AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k,
                                  const Tensor& v, const AttentionForward& fwd, double scale,
                                  bool causal, const Tensor& key_padding = Tensor());

// ------------------------------------------------------ packed 4-bit weights
// W (out, in) stored as 4-bit codes, two per byte (code 2i in the low nibble of
// byte i): packed u8 (out, in / 2), with per-group scale and zero f32
// (out, groups), W[r, j] = (code[r, j] - zero[r, g]) * scale[r, g], g = j / group.
// group must be even and in = 2 * packed.size(1).
//
// x W^T for a few rows of x (decoding): x f32 (n, in) -> (n, out), reading the
// codes in place (memory bound, so the 8x smaller weights are the speed-up).
Tensor matvec_4bit(const Tensor& x, const Tensor& packed, const Tensor& scale, const Tensor& zero,
                   int64_t group);
// W itself, f32 (out, in), from codes of `bits` in {2, 3, 4, 8} packed as a
// bit stream per row: code j at bits [j bits, (j + 1) bits), LSB first, rows
// of ceil(in bits / 8) bytes (the 4-bit layout above is this with bits = 4).
// (engine/packed_codes.h). The batched path dequantizes, then multiplies.
Tensor dequantize_packed(const Tensor& packed, const Tensor& scale, const Tensor& zero, int bits,
                         int64_t group, int64_t in);
// Rows [r0, r0 + out.size(0)) of W written into out, f32 (rows, in) on the
// codes' device: the tiles of a layer that never holds all of W at once.
void dequantize_packed_(const Tensor& out, int64_t r0, const Tensor& packed, const Tensor& scale,
                        const Tensor& zero, int bits, int64_t group);

// Group-wise fake quantization on a frozen grid (METHOD.md, QSLAW):
//   q = clamp(round(w / (s a)) + z, 0, levels),  w_hat = (q - z) s
// per group of `group_size` columns (the last group may be shorter); alpha
// (f32 (out, groups)) may be undefined, meaning 1. One pass, where the
// composite of elementwise ops made ten.
Tensor fake_quantize_grid(const Tensor& w, const Tensor& scale, const Tensor& zero, const Tensor& alpha,
                          double levels, int64_t group_size);
// Straight-through gradients (rounding passes the gradient; clamp passes none
// where it clips): dw = dy inside / a, dalpha = -sum_group dy inside w / a^2.
// Either is computed only when asked for.
struct FakeQuantGrads {
  Tensor dw, dalpha;
};
FakeQuantGrads fake_quantize_grid_backward(const Tensor& dy, const Tensor& w, const Tensor& scale,
                                           const Tensor& zero, const Tensor& alpha, double levels,
                                           int64_t group_size, bool need_dw, bool need_dalpha);

// --------------------------------------------------------------- optimizers
// Fused in-place updates of one parameter (all tensors contiguous, same shape
// and dtype). AdamW with decoupled weight decay and bias correction; `step`
// counts from 1.
void adamw_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
                 double weight_decay, int64_t step);
// SGD with (optional) momentum buffer and L2 weight decay folded into the gradient.
void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, double lr,
               double momentum, double weight_decay);

// ------------------------------------------------------------ copies, tests
// Copies src into dst (src broadcasts to dst's shape; dtypes convert).
void copy_(const Tensor& dst, const Tensor& src);
void fill_(const Tensor& dst, double value);
// One element by logical (row-major) index, converted to double. CPU only.
double element_as_double(const Tensor& x, int64_t index);
// Same shape and |a - b| <= atol + rtol * |b| elementwise (NaNs never close).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
bool equal(const Tensor& a, const Tensor& b);  // same shape, dtype and values
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace qs::engine
