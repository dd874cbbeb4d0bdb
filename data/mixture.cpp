#include "data/mixture.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace qs::data {

MixSchedule parse_mix_schedule(const std::string& name) {
  if (name == "constant") return MixSchedule::constant;
  if (name == "step") return MixSchedule::step;
  if (name == "linear") return MixSchedule::linear;
  if (name == "cosine") return MixSchedule::cosine;
  fail("mixture: unknown schedule '{}' (expected constant, step, linear or cosine)", name);
}

std::string name(MixSchedule s) {
  switch (s) {
    case MixSchedule::constant: return "constant";
    case MixSchedule::step: return "step";
    case MixSchedule::linear: return "linear";
    case MixSchedule::cosine: return "cosine";
  }
  return "?";
}

void MixtureConfig::check() const {
  QS_CHECK(text_share >= 0 && text_share <= 1 && start_share >= 0 && start_share <= 1,
           "mixture: shares must lie in [0, 1] (text_share {}, start_share {})", text_share, start_share);
  QS_CHECK(switch_fraction >= 0 && switch_fraction <= 1, "mixture: switch_fraction must lie in [0, 1], got {}",
           switch_fraction);
}

double text_share_from_ratio(double mix_ratio) {
  QS_CHECK(mix_ratio >= 0, "mixture: mix_ratio must be non-negative, got {}", mix_ratio);
  return 1.0 / (1.0 + mix_ratio);
}

double text_share_at(const MixtureConfig& c, int64_t step, int64_t total) {
  const double t = total > 1 ? static_cast<double>(step) / static_cast<double>(total - 1) : 1.0;
  switch (c.schedule) {
    case MixSchedule::constant: return c.text_share;
    case MixSchedule::step: return static_cast<double>(step) < c.switch_fraction * static_cast<double>(total) ? 0.0 : c.text_share;
    case MixSchedule::linear: return c.start_share + (c.text_share - c.start_share) * t;
    case MixSchedule::cosine:
      return c.start_share + (c.text_share - c.start_share) * 0.5 * (1.0 - std::cos(std::numbers::pi * t));
  }
  return c.text_share;
}

MixtureSampler::MixtureSampler(const MixtureConfig& config, int64_t total_steps, int64_t batch_size, uint64_t seed)
    : config_(config), total_steps_(total_steps), batch_size_(batch_size), rng_(seed) {
  config_.check();
  QS_CHECK(total_steps > 0 && batch_size > 0, "mixture: steps ({}) and batch size ({}) must be positive", total_steps,
           batch_size);
}

std::vector<bool> MixtureSampler::next(int64_t step) {
  QS_CHECK(step == next_step_, "mixture: step {} asked for, expected {} (steps go in order)", step, next_step_);
  ++next_step_;
  expected_ += text_share_at(config_, step, total_steps_) * static_cast<double>(batch_size_);
  const int64_t n_text = std::clamp<int64_t>(std::llround(expected_) - text_drawn_, 0, batch_size_);
  std::vector<bool> slots(static_cast<std::size_t>(batch_size_), false);
  std::fill(slots.begin(), slots.begin() + n_text, true);
  for (std::size_t i = slots.size(); i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(rng_.below(static_cast<int64_t>(i)));
    bool tmp = slots[i - 1];
    slots[i - 1] = slots[j];
    slots[j] = tmp;
  }
  text_drawn_ += n_text;
  total_drawn_ += batch_size_;
  return slots;
}

}  // namespace qs::data
