#include <cmath>
#include <limits>

#include "engine/ops.h"
#include "nn/finite.h"
#include "support.h"

using namespace qs;
namespace e = qs::engine;

TEST_CASE("first_non_finite names the first tensor with a NaN or an infinity, in any float dtype") {
  std::map<std::string, e::Tensor> state;
  state["a.weight"] = e::full({4, 4}, 3.0e38);  // large but finite: no false alarm
  state["b.steps"] = e::from_vector<int64_t>({1, 2});
  CHECK(!nn::first_non_finite(state));
  std::vector<float> v(9, 1.0f);
  v[7] = std::numeric_limits<float>::infinity();
  state["c.bias"] = e::from_vector(v).to(e::DType::bf16);
  CHECK(nn::first_non_finite(state) == std::optional<std::string>("c.bias"));
  v[7] = std::nanf("");
  state["c.bias"] = e::from_vector(v);
  state["d.moment"] = e::full({2}, std::nan(""), e::DType::f64);
  CHECK(nn::first_non_finite(state) == std::optional<std::string>("c.bias"));
  CHECK_THROWS_WITH_AS(nn::check_finite(state, "[instruct] after step 6"),
                       doctest::Contains("[instruct] after step 6: non-finite values in 'c.bias'"), qs::Error);
}
