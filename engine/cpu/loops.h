#pragma once
// Strided, broadcasting iteration for CPU kernels. Dims of size 1 are dropped
// and adjacent dims that are contiguous for every operand are merged, so the
// innermost run is as long as the layouts allow; outer runs go to OpenMP
// threads once there is enough work.
#include <omp.h>

#include <array>
#include <cstdint>
#include <vector>

#include "engine/shape.h"
#include "engine/tensor.h"

namespace qs::engine::cpu {

// Below this many elements a loop runs on one thread: forking costs more.
constexpr int64_t kParallelGrain = 32768;

template <int N>
struct StridedPlan {
  std::vector<int64_t> sizes;                    // outermost first
  std::vector<std::array<int64_t, N>> strides;  // per dim, per operand
};

template <int N>
StridedPlan<N> make_plan(const Shape& shape, const std::array<Shape, N>& strides) {
  StridedPlan<N> plan;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    std::array<int64_t, N> s;
    for (int k = 0; k < N; ++k) s[k] = strides[k][d];
    if (!plan.sizes.empty()) {
      bool merge = true;
      for (int k = 0; k < N; ++k) merge = merge && plan.strides.back()[k] == s[k] * shape[d];
      if (merge) {
        plan.sizes.back() *= shape[d];
        plan.strides.back() = s;
        continue;
      }
    }
    plan.sizes.push_back(shape[d]);
    plan.strides.push_back(s);
  }
  if (plan.sizes.empty()) {
    plan.sizes.push_back(1);
    plan.strides.push_back({});
  }
  return plan;
}

// body(offsets, n, inner_strides): one innermost run of n elements starting at
// `offsets` (elements, per operand) and stepping by `inner_strides`.
template <int N, class Body>
void for_each_run(const Shape& shape, const std::array<Shape, N>& strides, Body&& body) {
  StridedPlan<N> plan = make_plan<N>(shape, strides);
  const int nd = static_cast<int>(plan.sizes.size());
  const int64_t inner = plan.sizes[nd - 1];
  const std::array<int64_t, N> inner_strides = plan.strides[nd - 1];
  int64_t outer = 1;
  for (int d = 0; d < nd - 1; ++d) outer *= plan.sizes[d];
  const int64_t total = outer * inner;

  if (outer == 1) {
    // One long run: split it into chunks.
    const int64_t chunk = kParallelGrain;
    const int64_t nchunks = (inner + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t c = 0; c < nchunks; ++c) {
      std::array<int64_t, N> off;
      for (int k = 0; k < N; ++k) off[k] = c * chunk * inner_strides[k];
      body(off, std::min(chunk, inner - c * chunk), inner_strides);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (total >= kParallelGrain)
  for (int64_t o = 0; o < outer; ++o) {
    std::array<int64_t, N> off{};
    int64_t rem = o;
    for (int d = nd - 2; d >= 0; --d) {
      int64_t i = rem % plan.sizes[d];
      rem /= plan.sizes[d];
      for (int k = 0; k < N; ++k) off[k] += i * plan.strides[d][k];
    }
    body(off, inner, inner_strides);
  }
}

// Strides of t seen as broadcast to `shape` (0 along broadcast dims).
inline Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape s(shape.size(), 0);
  std::size_t lead = shape.size() - t.shape().size();
  for (std::size_t i = 0; i < t.shape().size(); ++i) {
    if (t.shape()[i] != 1) s[lead + i] = t.strides()[i];
  }
  return s;
}

template <class T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) for f32/f64; an error naming the op otherwise.
template <class F>
void dispatch_floating(const char* op, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(TypeTag<float>{}); return;
    case DType::f64: f(TypeTag<double>{}); return;
    default: fail("{}: needs an f32 or f64 tensor on CPU, got {}", op, dtype_name(dtype));
  }
}

// f32, f64, i32, i64, u8.
template <class F>
void dispatch_all(const char* op, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(TypeTag<float>{}); return;
    case DType::f64: f(TypeTag<double>{}); return;
    case DType::i32: f(TypeTag<int32_t>{}); return;
    case DType::i64: f(TypeTag<int64_t>{}); return;
    case DType::u8: f(TypeTag<uint8_t>{}); return;
    default: fail("{}: dtype {} is not supported by CPU kernels", op, dtype_name(dtype));
  }
}

}  // namespace qs::engine::cpu
