// Bad input raises qs::Error with a message that names the op and operands.
#include <functional>
#include <string>

#include "engine/backend.h"
#include "support.h"

using qs::test::error_of;
using qs::test::has;

using namespace qs::engine;
using qs::test::make;

TEST_CASE("shape mismatch names the op and both shapes") {
  std::string m = error_of([] { add(zeros({2, 3}), zeros({4})); });
  CHECK(has(m, "add"));
  CHECK(has(m, "[2, 3]"));
  CHECK(has(m, "[4]"));
  m = error_of([] { matmul(zeros({2, 3}), zeros({4, 5})); });
  CHECK(has(m, "matmul"));
  CHECK(has(m, "f32[2, 3]"));
  CHECK(has(m, "f32[4, 5]"));
  m = error_of([] { zeros({2, 3}).view({4}); });
  CHECK(has(m, "view"));
  m = error_of([] { layer_norm(zeros({2, 3}), zeros({4}), Tensor()); });
  CHECK(has(m, "layer_norm"));
  CHECK(has(m, "weight"));
  m = error_of([] { concat({zeros({2, 3}), zeros({3, 3})}, 1); });
  CHECK(has(m, "concat"));
}

TEST_CASE("dtype mismatch and unsupported dtype") {
  std::string m = error_of([] { mul(zeros({2}), zeros({2}, DType::f64)); });
  CHECK(has(m, "mul"));
  CHECK(has(m, "f32[2]"));
  CHECK(has(m, "f64[2]"));
  m = error_of([] { exp(zeros({2}, DType::i64)); });
  CHECK(has(m, "exp"));
  CHECK(has(m, "i64"));
  m = error_of([] { zeros({2}).data<double>(); });
  CHECK(has(m, "f64"));
  m = error_of([] { where(zeros({2}), zeros({2}), zeros({2})); });
  CHECK(has(m, "u8"));
}

TEST_CASE("out-of-range indices and dims") {
  std::string m = error_of([] { embedding(zeros({4, 3}), from_vector<int64_t>({1, 4})); });
  CHECK(has(m, "holds 4 at position 1"));
  CHECK(has(m, "[0, 4)"));
  m = error_of([] { cross_entropy(zeros({2, 3}), from_vector<int64_t>({0, -1})); });
  CHECK(has(m, "cross_entropy"));
  CHECK(has(m, "-1"));
  m = error_of([] { sum(zeros({2, 3}), 2); });
  CHECK(has(m, "dim 2 out of range"));
  m = error_of([] { zeros({2, 3}).select(0, 5); });
  CHECK(has(m, "index 5"));
  m = error_of([] { index_select(zeros({2}), 0, zeros({1})); });
  CHECK(has(m, "i32 or i64"));
}

TEST_CASE("non-contiguous where contiguity is required") {
  std::string m = error_of([] { zeros({2, 3}).t().view({6}); });
  CHECK(has(m, "not contiguous"));
  m = error_of([] { index_add_(zeros({3, 2}).t(), 0, from_vector<int64_t>({0}), zeros({1, 3})); });
  CHECK(has(m, "must be contiguous"));
}

TEST_CASE("tensors on a device without kernels are refused clearly") {
  if (cuda_device_count() > 0) return;  // there is a device: nothing to refuse
  std::string m = error_of([] { zeros({2}, DType::f32, Device::cuda()); });
  CHECK((has(m, "CUDA") || has(m, "cuda")));
}
