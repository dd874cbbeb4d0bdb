// The kernel profiler: off, it records nothing; on, it counts each kernel
// under its op name with its time, and matmul with its FLOPs.
#include <chrono>

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

TEST_CASE("a kernel launched while preparing another's arguments is counted apart") {
  profiler::reset();
  Generator gen(3);
  Tensor x = randn({1024, 1024}, gen);
  profiler::enable(true);
  const auto t0 = std::chrono::steady_clock::now();
  Tensor s = sum(x.transpose(0, 1), 1);  // the reduction reads a contiguous copy
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  profiler::enable(false);
  const auto entries = profiler::entries();
  REQUIRE(find(entries, "sum") != nullptr);
  REQUIRE(find(entries, "copy_") != nullptr);
  CHECK(find(entries, "sum")->calls == 1);
  CHECK(find(entries, "copy_")->calls == 1);
  // Counted once: the copy's time is not also inside the reduction's.
  CHECK(find(entries, "sum")->seconds + find(entries, "copy_")->seconds <= wall);
  profiler::reset();
}
