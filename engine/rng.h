#pragma once
// Counter-based randomness (Philox4x32-10): the value of element i of a draw
// depends only on (seed, offset + i), so any thread count, and the CUDA
// backend, produce the same numbers for the same seed and offset.
#include <array>
#include <cstdint>

namespace qs::engine {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// Uniform in [0, 1) and standard normal for counter position `index`.
float uniform_f32(uint64_t seed, uint64_t index);
double uniform_f64(uint64_t seed, uint64_t index);
double normal_f64(uint64_t seed, uint64_t index);

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Reserves n counter positions and returns the first.
  uint64_t advance(uint64_t n) {
    uint64_t first = offset_;
    offset_ += n;
    return first;
  }

 private:
  uint64_t seed_;
  uint64_t offset_;
};

}  // namespace qs::engine
