// CUDA checks run where a GPU is visible and skip with a message elsewhere.
#include "engine/backend.h"
#include "support.h"

using namespace qs::engine;
using qs::test::values;

TEST_CASE("tensors round-trip between CPU and GPU") {
  if (cuda_device_count() == 0) {
    MESSAGE("skipped: no CUDA device visible (cuda backend built: " << cuda_built() << ")");
    return;
  }
  Generator g(1);
  Tensor x = randn({129, 7}, g);
  Tensor on_gpu = x.to(Device::cuda());
  CHECK(on_gpu.device().is_cuda());
  CHECK(equal(on_gpu.to(Device::cpu()), x));
  Tensor strided = x.t().to(Device::cuda()).to(Device::cpu());
  CHECK(equal(strided, x.t().contiguous()));
}
