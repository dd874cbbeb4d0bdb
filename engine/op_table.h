#pragma once
// The engine's ops, listed once. Each row of QS_OPS is X(name, family, gradient):
//   name      the op's name in errors and the profiler; Op::name in code.
//   family    where it lives: engine/ops_<family>.cpp (checks, allocation,
//             dispatch), engine/cpu/<family>.cpp, engine/cuda/<family>.cu,
//             and autograd/<family>.cpp for its autograd function.
//   gradient  what the all-ops harness (tests/harness) checks besides values:
//             grad (the autograd function's gradient), none (no gradient:
//             factories, in-place updates, integer codes), or, for a
//             backward kernel, the op whose gradient check runs it.
// QS_KERNEL (engine/dispatch.h) takes an Op, or a kind of unary, binary or
// reduce op, so no kernel launches without a row here; the harness fails on
// a row it has no case for. Plain C++17 without dependencies: CUDA sources
// include it.
#include <cstddef>
#include <cstdint>
#include <iterator>

#define QS_OPS(X)                                    \
  X(unary, elementwise, grad)                        \
  X(clamp, elementwise, grad)                        \
  X(binary, elementwise, grad)                       \
  X(where, elementwise, grad)                        \
  X(swiglu, elementwise, grad)                       \
  X(swiglu_backward, elementwise, swiglu)          \
  X(copy_, copy, none)                               \
  X(fill_, copy, none)                               \
  X(rand, random, none)                              \
  X(randn, random, none)                             \
  X(dropout, random, grad)                           \
  X(dropout_backward, random, dropout)              \
  X(reduce, reduce, grad)                            \
  X(matmul, linalg, grad)                            \
  X(softmax, softmax, grad)                          \
  X(softmax_backward, softmax, softmax)             \
  X(log_softmax, softmax, grad)                      \
  X(log_softmax_backward, softmax, log_softmax)         \
  X(layer_norm, norm, grad)                          \
  X(layer_norm_backward, norm, layer_norm)             \
  X(rms_norm, norm, grad)                            \
  X(rms_norm_backward, norm, rms_norm)               \
  X(rope, rope, grad)                                \
  X(cross_entropy, loss, grad)                       \
  X(cross_entropy_backward, loss, cross_entropy)          \
  X(index_select, index, grad)                       \
  X(index_add_, index, index_select)                     \
  X(attention, attention, grad)                      \
  X(attention_backward, attention, attention)         \
  X(matvec_4bit, packed, none)                       \
  X(dequantize_packed, packed, none)                 \
  X(fake_quantize_grid, packed, grad)                \
  X(fake_quantize_grid_backward, packed, fake_quantize_grid)   \
  X(adamw_step_, optim, none)                        \
  X(sgd_step_, optim, none)

#define QS_UNARY_OPS(X) \
  X(neg) X(exp) X(log) X(sqrt) X(rsqrt) X(tanh) X(sigmoid) X(relu) X(abs) X(sign) X(round) \
  X(gelu_tanh) X(gelu_erf) X(silu)                                                            \
  /* derivatives d/dx, used by backward passes */                                             \
  X(gelu_tanh_grad) X(gelu_erf_grad) X(silu_grad)                                              \
  /* CLIP's activation x sigmoid(1.702 x), and its derivative */                             \
  X(quick_gelu) X(quick_gelu_grad)
#define QS_BINARY_OPS(X) \
  X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum) X(eq) X(ne) X(lt) X(le) X(gt) X(ge)
#define QS_REDUCE_OPS(X) X(sum) X(mean) X(max) X(min) X(var)

namespace qs::engine {

#define QS_ENUM_ROW(name, ...) name,
#define QS_NAME_ROW(name, ...) #name,
enum class Op : uint8_t { QS_OPS(QS_ENUM_ROW) };
enum class UnaryOp : uint8_t { QS_UNARY_OPS(QS_ENUM_ROW) };
enum class BinaryOp : uint8_t { QS_BINARY_OPS(QS_ENUM_ROW) };
enum class ReduceOp : uint8_t { QS_REDUCE_OPS(QS_ENUM_ROW) };

namespace op_table {
inline constexpr const char* op_names[] = {QS_OPS(QS_NAME_ROW)};
inline constexpr const char* unary_names[] = {QS_UNARY_OPS(QS_NAME_ROW)};
inline constexpr const char* binary_names[] = {QS_BINARY_OPS(QS_NAME_ROW)};
inline constexpr const char* reduce_names[] = {QS_REDUCE_OPS(QS_NAME_ROW)};
#define QS_FAMILY_ROW(name, family, gradient) #family,
#define QS_GRADIENT_ROW(name, family, gradient) #gradient,
inline constexpr const char* families[] = {QS_OPS(QS_FAMILY_ROW)};
inline constexpr const char* gradients[] = {QS_OPS(QS_GRADIENT_ROW)};
#undef QS_FAMILY_ROW
#undef QS_GRADIENT_ROW
// How many enumerators each enum has (its last one + 1), and a check that
// every name table has one entry per enumerator.
inline constexpr std::size_t op_count = static_cast<std::size_t>(Op::sgd_step_) + 1;
inline constexpr std::size_t unary_count = static_cast<std::size_t>(UnaryOp::quick_gelu_grad) + 1;
inline constexpr std::size_t binary_count = static_cast<std::size_t>(BinaryOp::ge) + 1;
inline constexpr std::size_t reduce_count = static_cast<std::size_t>(ReduceOp::var) + 1;
static_assert(std::size(op_names) == op_count && std::size(families) == op_count && std::size(gradients) == op_count,
              "a row was added to QS_OPS: update op_count to its last row");
static_assert(std::size(unary_names) == unary_count && std::size(binary_names) == binary_count &&
                  std::size(reduce_names) == reduce_count,
              "a kind was added: update its count to the last kind");
}  // namespace op_table
#undef QS_ENUM_ROW
#undef QS_NAME_ROW

// Names for errors, the profiler and QS_KERNEL.
constexpr const char* op_name(Op op) { return op_table::op_names[static_cast<std::size_t>(op)]; }
constexpr const char* op_name(UnaryOp op) { return op_table::unary_names[static_cast<std::size_t>(op)]; }
constexpr const char* op_name(BinaryOp op) { return op_table::binary_names[static_cast<std::size_t>(op)]; }
constexpr const char* op_name(ReduceOp op) { return op_table::reduce_names[static_cast<std::size_t>(op)]; }

}  // namespace qs::engine
