#include "engine/profiler.h"

#include <algorithm>
#include <map>
#include <mutex>

namespace qs::engine::profiler {

namespace {
std::mutex mutex;
std::map<std::string, Entry>& table() {
  static std::map<std::string, Entry> t;
  return t;
}
}  // namespace

namespace detail {
std::atomic<bool> on{false};

void record(const char* name, double seconds, double flops) {
  std::lock_guard<std::mutex> lock(mutex);
  Entry& e = table()[name];
  if (e.name.empty()) e.name = name;
  ++e.calls;
  e.seconds += seconds;
  e.flops += flops;
}
}  // namespace detail

void enable(bool on) { detail::on.store(on, std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(mutex);
  table().clear();
}

std::vector<Entry> entries() {
  std::vector<Entry> out;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [name, e] : table()) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
  return out;
}

}  // namespace qs::engine::profiler
