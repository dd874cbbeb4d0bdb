#include "engine/rng.h"

#include <cmath>

namespace qs::engine {

static std::array<uint32_t, 4> draw(uint64_t seed, uint64_t index) {
  return philox4x32({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0, 0},
                    {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

double uniform_f64(uint64_t seed, uint64_t index) {
  auto r = draw(seed, index);
  uint64_t bits = (static_cast<uint64_t>(r[0]) << 21) ^ (r[1] >> 11);
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * 0x1.0p-53;
}

double normal_f64(uint64_t seed, uint64_t index) {
  auto r = draw(seed, index);
  // Box-Muller on two 32-bit uniforms; u1 in (0, 1] so log never sees 0.
  double u1 = (static_cast<double>(r[0]) + 1.0) * 0x1.0p-32;
  double u2 = static_cast<double>(r[1]) * 0x1.0p-32;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace qs::engine
