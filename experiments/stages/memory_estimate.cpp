#include "experiments/stages/memory_estimate.h"

#include <fmt/core.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/error.h"

namespace qs::experiments {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// MemAvailable in bytes; 0 when /proc/meminfo cannot tell.
double available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  double kib = 0;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024.0;
  }
  return 0;
}

}  // namespace

std::string MemoryEstimate::describe() const {
  return fmt::format("{:.0f} MB (weights {:.0f}, gradients and optimizer state {:.0f}, activations {:.0f})", total() / kMiB,
                     weights / kMiB, training / kMiB, activations / kMiB);
}

double block_activation_bytes(int64_t tokens, int64_t layers, int64_t dim, int64_t ffn) {
  return 4.0 * static_cast<double>(tokens) * static_cast<double>(layers) * (12.0 * static_cast<double>(dim) + 4.0 * static_cast<double>(ffn));
}

void check_memory(const MemoryEstimate& estimate, const std::string& stage) {
  double limit = available_bytes();
  std::string source = "available memory";
  if (const char* cap = std::getenv("QSLAW_MAX_MEMORY_MB")) {
    char* end = nullptr;
    const double mb = std::strtod(cap, &end);
    QS_CHECK(end != cap && *end == '\0' && mb > 0, "QSLAW_MAX_MEMORY_MB must be a positive number of MB, got '{}'", cap);
    limit = mb * kMiB;
    source = "QSLAW_MAX_MEMORY_MB";
  }
  if (limit <= 0) return;  // nothing to compare against
  QS_CHECK(estimate.total() <= limit,
           "[{}] one training step needs about {}, more than the {} ({:.0f} MB): lower the batch size or the sequence length",
           stage, estimate.describe(), source, limit / kMiB);
}

}  // namespace qs::experiments
