#pragma once
// QS_KERNEL(device, op, kernel(args...)) runs cpu::kernel(args...) or, on a
// GPU, cuda::kernel(args...) on that GPU's stream. The two kernel sets share
// names and arguments (engine/kernel_list.inc). `op` is a row of the op table
// (Op::matmul) or a kind of unary, binary or reduce op: no kernel runs
// without a row in engine/op_table.h, which names it in the profiler.
#include "engine/backend.h"
#include "engine/cpu/kernels.h"
#include "engine/profiler.h"

// QS_KERNEL_FLOPS also tells the profiler (engine/profiler.h) the kernel's
// arithmetic.
#define QS_KERNEL(dev, name, ...) QS_KERNEL_FLOPS(dev, name, 0.0, __VA_ARGS__)

#ifdef QSLAW_WITH_CUDA
#include "engine/cuda/kernels.h"
#include "engine/cuda/runtime.h"
#define QS_KERNEL_FLOPS(dev, name, flops, ...)                                          \
  do {                                                                                  \
    auto qs_sync_ = [&] {                                                               \
      if (!(dev).is_cpu()) ::qs::engine::cuda::synchronize((dev).index);                \
    };                                                                                  \
    ::qs::engine::profiler::Scope qs_scope_(::qs::engine::op_name(name), flops, qs_sync_);                     \
    if ((dev).is_cpu()) {                                                               \
      ::qs::engine::cpu::__VA_ARGS__;                                                   \
    } else {                                                                            \
      ::qs::engine::cuda::set_device((dev).index);                                      \
      ::qs::engine::cuda::__VA_ARGS__;                                                  \
    }                                                                                   \
    qs_scope_.finish(qs_sync_);                                                         \
  } while (0)
#else
#define QS_KERNEL_FLOPS(dev, name, flops, ...)                                          \
  do {                                                                                  \
    if (!(dev).is_cpu()) ::qs::engine::no_kernel(::qs::engine::op_name(name), (dev));                          \
    ::qs::engine::profiler::Scope qs_scope_(::qs::engine::op_name(name), flops, [] {});                        \
    ::qs::engine::cpu::__VA_ARGS__;                                                     \
    qs_scope_.finish([] {});                                                            \
  } while (0)
#endif

namespace qs::engine {

// The dtypes an op computes in on `device`: f32/f64 everywhere, and bf16/f16
// on CUDA (the CPU kernels only store half types).
inline bool computable(DType dtype, Device device) {
  return dtype == DType::f32 || dtype == DType::f64 ||
         (device.is_cuda() && (dtype == DType::bf16 || dtype == DType::f16));
}

}  // namespace qs::engine
