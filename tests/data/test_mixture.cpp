#include <cmath>

#include "data/mixture.h"
#include "support.h"

using namespace qs::data;
using qs::test::error_of;
using qs::test::has;

namespace {

// Runs the sampler and returns the realised text share of each step.
std::vector<double> realised(const MixtureConfig& c, int64_t steps, int64_t batch) {
  MixtureSampler s(c, steps, batch, 3);
  std::vector<double> out;
  for (int64_t i = 0; i < steps; ++i) {
    auto slots = s.next(i);
    REQUIRE(static_cast<int64_t>(slots.size()) == batch);
    out.push_back(static_cast<double>(std::count(slots.begin(), slots.end(), true)) / static_cast<double>(batch));
  }
  return out;
}

}  // namespace

TEST_CASE("the constant mixture realises its share exactly, including mix_ratio") {
  MixtureConfig c;
  c.text_share = text_share_from_ratio(1.0);  // the official 1:1
  CHECK(c.text_share == 0.5);
  for (double r : realised(c, 50, 16)) CHECK(r == 0.5);
  c.text_share = text_share_from_ratio(3.0);  // three multimodal per text sample
  auto shares = realised(c, 40, 10);
  double total = 0;
  for (double r : shares) total += r;
  CHECK(std::abs(total / 40 - 0.25) < 1.0 / 400 + 1e-12);  // within one sample overall
}

TEST_CASE("the step schedule is multimodal only, then mixed") {
  MixtureConfig c;
  c.schedule = MixSchedule::step;
  c.text_share = 0.5;
  c.switch_fraction = 0.4;
  auto shares = realised(c, 20, 8);
  for (int i = 0; i < 8; ++i) CHECK(shares[i] == 0.0);
  for (int i = 8; i < 20; ++i) CHECK(shares[i] == 0.5);
}

TEST_CASE("linear and cosine ramps track the scheduled share, cumulatively within one sample") {
  for (MixSchedule kind : {MixSchedule::linear, MixSchedule::cosine}) {
    MixtureConfig c;
    c.schedule = kind;
    c.start_share = 0.0;
    c.text_share = 0.8;
    const int64_t steps = 60, batch = 7;
    MixtureSampler s(c, steps, batch, 1);
    double expected = 0;
    for (int64_t i = 0; i < steps; ++i) {
      s.next(i);
      expected += text_share_at(c, i, steps) * batch;
      CHECK(std::abs(static_cast<double>(s.text_drawn()) - expected) <= 0.5 + 1e-9);
    }
    CHECK(text_share_at(c, 0, steps) == 0.0);
    CHECK(std::abs(text_share_at(c, steps - 1, steps) - 0.8) < 1e-12);
    // The ramp rises: the second half holds more text than the first.
    auto shares = realised(c, steps, batch);
    double first = 0, second = 0;
    for (int64_t i = 0; i < steps; ++i) (i < steps / 2 ? first : second) += shares[static_cast<std::size_t>(i)];
    CHECK(second > first);
  }
  CHECK(text_share_at({MixSchedule::cosine, 1.0, 0.0, 0.5}, 50, 101) == doctest::Approx(0.5));
}

TEST_CASE("mixture errors name what is wrong") {
  CHECK(has(error_of([] { parse_mix_schedule("ramp"); }), "unknown schedule 'ramp'"));
  MixtureConfig c;
  c.text_share = 1.5;
  CHECK(has(error_of([&] { MixtureSampler(c, 10, 4, 0); }), "shares must lie in [0, 1]"));
  CHECK(has(error_of([] { text_share_from_ratio(-1); }), "mix_ratio"));
  MixtureSampler s({}, 10, 4, 0);
  s.next(0);
  CHECK(has(error_of([&] { s.next(2); }), "expected 1"));
}
