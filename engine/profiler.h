#pragma once
// Kernel-level timing. While enabled, every kernel that QS_KERNEL launches is
// timed (wall clock; on a GPU after synchronizing its stream, so the time is
// the kernel's, not the launch's) and counted under its op name; matmul adds
// its FLOPs. Off by default: then a launch costs one relaxed atomic load.
// `./qslaw bench train-step --profile` prints where a training step's time goes.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace qs::engine::profiler {

struct Entry {
  std::string name;
  int64_t calls = 0;
  double seconds = 0;
  double flops = 0;  // 0 where the op does not count them
};

namespace detail {
extern std::atomic<bool> on;
void record(const char* name, double seconds, double flops);
}  // namespace detail

inline bool enabled() { return detail::on.load(std::memory_order_relaxed); }
void enable(bool on);
void reset();
std::vector<Entry> entries();  // by total time, longest first

// Times one kernel launch; `sync` (run before reading the clock at both ends)
// makes asynchronous devices finish their queued work. A kernel's arguments
// may launch kernels of their own (x.contiguous()): each records its own time
// and the enclosing launch records its time less theirs.
class Scope {
 public:
  template <class Sync>
  Scope(const char* name, double flops, Sync&& sync) : name_(enabled() ? name : nullptr), flops_(flops) {
    if (name_ == nullptr) return;
    sync();
    parent_ = current;
    current = this;
    start_ = std::chrono::steady_clock::now();
  }
  template <class Sync>
  void finish(Sync&& sync) {
    if (name_ == nullptr) return;
    sync();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    current = parent_;
    if (parent_ != nullptr) parent_->nested_ += elapsed;
    detail::record(name_, elapsed - nested_, flops_);
  }

 private:
  static inline thread_local Scope* current = nullptr;
  const char* name_;
  double flops_;
  double nested_ = 0;
  Scope* parent_ = nullptr;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace qs::engine::profiler
