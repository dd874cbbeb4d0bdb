#pragma once
#include <cstdint>
#include <string>

namespace qs::nn {

// Learning-rate multiplier over training steps.
struct LrSchedule {
  enum class Kind { constant, warmup_cosine, step };
  Kind kind = Kind::constant;
  int64_t total_steps = 1;
  double warmup_ratio = 0.0;  // warmup_cosine: linear warmup over this share of the steps
  double min_ratio = 0.0;     // warmup_cosine: floor of the cosine, as a share of the peak
  int64_t step_size = 1;      // step: multiply by gamma every step_size steps
  double gamma = 0.1;

  // Multiplier for the update with 0-based index `step`.
  double factor(int64_t step) const;
  static Kind parse_kind(const std::string& name);  // "constant" | "cosine" | "step"
};

}  // namespace qs::nn
