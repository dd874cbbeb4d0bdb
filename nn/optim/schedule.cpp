#include "nn/optim/schedule.h"

#include <cmath>

#include "engine/error.h"

namespace qs::nn {

double LrSchedule::factor(int64_t step) const {
  switch (kind) {
    case Kind::constant: return 1.0;
    case Kind::step: return std::pow(gamma, static_cast<double>(step / std::max<int64_t>(step_size, 1)));
    case Kind::warmup_cosine: {
      const int64_t warmup = static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
      if (step < warmup) return static_cast<double>(step + 1) / static_cast<double>(warmup);
      const double span = static_cast<double>(std::max<int64_t>(total_steps - warmup, 1));
      const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
      return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress));
    }
  }
  return 1.0;
}

LrSchedule::Kind LrSchedule::parse_kind(const std::string& name) {
  if (name == "constant") return Kind::constant;
  if (name == "cosine") return Kind::warmup_cosine;
  if (name == "step") return Kind::step;
  fail("lr schedule: unknown kind '{}' (expected constant, cosine or step)", name);
}

}  // namespace qs::nn
