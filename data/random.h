#pragma once
// A reproducible random stream for data generation: draw k of stream `seed`
// is a pure function of (seed, k), like every other draw in qslaw.
#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "engine/rng.h"

namespace qs::data {

class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t counter = 0) : seed_(seed), counter_(counter) {}
  double uniform() { return engine::uniform_f64(seed_, counter_++); }
  // Uniform integer in [0, n).
  int64_t below(int64_t n) {
    QS_CHECK(n > 0, "Rng::below: n must be positive, got {}", n);
    return std::min<int64_t>(static_cast<int64_t>(uniform() * static_cast<double>(n)), n - 1);
  }
  int64_t between(int64_t lo, int64_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  bool chance(double p) { return uniform() < p; }
  template <class T>
  const T& pick(const std::vector<T>& xs) {
    return xs[static_cast<std::size_t>(below(static_cast<int64_t>(xs.size())))];
  }
  // A derived, independent stream (e.g. one per document).
  Rng fork(uint64_t salt) const { return Rng(seed_ * 0x9E3779B97F4A7C15ull + salt * 0xBF58476D1CE4E5B9ull + 1); }

 private:
  uint64_t seed_;
  uint64_t counter_;
};

}  // namespace qs::data
