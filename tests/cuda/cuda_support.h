#pragma once
// CUDA tests compare each op on the GPU with the same op on the CPU. They run
// where a GPU is visible and skip with a message elsewhere (they stay in the
// default ctest run, so a machine with a GPU checks them without flags).
#include "engine/backend.h"
#include "support.h"

namespace qs::test {

inline bool have_gpu() {
  if (engine::cuda_device_count() > 0) return true;
  MESSAGE("skipped: no CUDA device visible (CUDA backend built: " << engine::cuda_built() << ")");
  return false;
}

inline Tensor gpu(const Tensor& t) { return t.to(engine::Device::cuda()); }
inline Tensor cpu(const Tensor& t) { return t.to(engine::Device::cpu()); }

// |gpu - cpu| <= tol * (1 + |cpu|) elementwise, with both shown on failure.
#define QS_CHECK_DEVICES(gpu_result, cpu_result, tol)                                    \
  do {                                                                                   \
    const qs::engine::Tensor qs_g_ = (gpu_result);                                       \
    const qs::engine::Tensor qs_c_ = (cpu_result);                                       \
    REQUIRE(qs_g_.device().is_cuda());                                                   \
    const qs::engine::Tensor qs_gh_ = qs_g_.to(qs::engine::Device::cpu());               \
    INFO("gpu ", qs_gh_.str());                                                          \
    INFO("cpu ", qs_c_.str());                                                           \
    INFO("max |diff| ", qs::engine::max_abs_diff(qs_gh_.to(qs::engine::DType::f64),     \
                                                 qs_c_.to(qs::engine::DType::f64)));     \
    CHECK(qs_gh_.dtype() == qs_c_.dtype());                                              \
    CHECK(qs::engine::allclose(qs_gh_.to(qs::engine::DType::f64),                       \
                               qs_c_.to(qs::engine::DType::f64), (tol), (tol)));        \
  } while (0)

}  // namespace qs::test
