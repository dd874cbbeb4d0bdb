// The kernel profiler: off, it records nothing; on, it counts each kernel
// under its op name with its time, and matmul with its FLOPs.
#include "engine/ops.h"
#include "engine/profiler.h"
#include "support.h"

using namespace qs::engine;
namespace profiler = qs::engine::profiler;

namespace {
const profiler::Entry* find(const std::vector<profiler::Entry>& entries, const std::string& name) {
  for (const auto& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}
}  // namespace

TEST_CASE("the profiler counts kernels and matmul FLOPs only while enabled") {
  profiler::reset();
  Generator gen(1);
  Tensor a = randn({2, 12, 20}, gen), b = randn({20, 7}, gen);
  Tensor c = matmul(a, b);
  CHECK(profiler::entries().empty());

  profiler::enable(true);
  c = matmul(a, b);
  c = matmul(a, b) + c;
  Tensor d = exp(c);
  profiler::enable(false);
  Tensor ignored = exp(d);  // after disabling: not counted

  const auto entries = profiler::entries();
  const profiler::Entry* mm = find(entries, "matmul");
  REQUIRE(mm != nullptr);
  CHECK(mm->calls == 2);
  CHECK(mm->flops == doctest::Approx(2 * (2.0 * 2 * 12 * 7 * 20)));
  CHECK(mm->seconds > 0);
  const profiler::Entry* add = find(entries, "add");
  REQUIRE(add != nullptr);
  CHECK(add->calls == 1);
  CHECK(add->flops == 0);
  REQUIRE(find(entries, "exp") != nullptr);
  CHECK(find(entries, "exp")->calls == 1);
  for (std::size_t i = 1; i < entries.size(); ++i) CHECK(entries[i - 1].seconds >= entries[i].seconds);
  profiler::reset();
  CHECK(profiler::entries().empty());
}
