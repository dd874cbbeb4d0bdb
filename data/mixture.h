#pragma once
// The modality mixture of QSLAW's multimodal warmup (METHOD.md): each batch
// holds multimodal and text-only samples, and the text share follows a
// schedule over the steps:
//   constant  the same share throughout (the official 1:1 mixture is 0.5);
//   step      multimodal only for the first `switch_fraction` of the steps,
//             then `text_share` (the official two stages in one run);
//   linear, cosine  ramps from `start_share` to `text_share`.
// Realised counts track the schedule exactly: after any step, the number of
// text samples drawn so far is the rounded integral of the schedule.
#include <cstdint>
#include <string>
#include <vector>

#include "data/random.h"

namespace qs::data {

enum class MixSchedule { constant, step, linear, cosine };
MixSchedule parse_mix_schedule(const std::string& name);
std::string name(MixSchedule s);

struct MixtureConfig {
  MixSchedule schedule = MixSchedule::constant;
  double text_share = 0.5;       // final (or constant) share of text-only samples
  double start_share = 0.0;      // linear / cosine: the share at step 0
  double switch_fraction = 0.5;  // step: the multimodal-only part of training
  void check() const;
};

// mix_ratio r means r multimodal samples per text sample: share 1 / (1 + r).
double text_share_from_ratio(double mix_ratio);

// The scheduled text share at `step` of `total` steps.
double text_share_at(const MixtureConfig& config, int64_t step, int64_t total);

class MixtureSampler {
 public:
  MixtureSampler(const MixtureConfig& config, int64_t total_steps, int64_t batch_size, uint64_t seed);
  // For each slot of the batch of this step: true = a text-only sample.
  // Steps must be asked for in order 0, 1, 2, ... (counts carry over).
  std::vector<bool> next(int64_t step);
  int64_t text_drawn() const { return text_drawn_; }
  int64_t total_drawn() const { return total_drawn_; }

 private:
  MixtureConfig config_;
  int64_t total_steps_, batch_size_;
  Rng rng_;
  int64_t next_step_ = 0;
  double expected_ = 0.0;  // integral of the schedule so far, in samples
  int64_t text_drawn_ = 0, total_drawn_ = 0;
};

}  // namespace qs::data
