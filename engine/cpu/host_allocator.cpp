#include "engine/cpu/host_allocator.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "engine/error.h"

namespace qs::engine::cpu {

namespace {

constexpr std::size_t kAlign = 64;  // a cache line; AVX-512 loads
constexpr std::size_t kCachedMin = std::size_t{64} << 10;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kMapped = std::size_t{256} << 10;  // and above: mmap, not malloc
// Beyond this many cached bytes, released blocks go back to the system.
constexpr std::size_t kCacheLimit = std::size_t{4} << 30;

// The size actually allocated for a request: cached sizes are rounded so
// nearby requests share a free list.
std::size_t rounded_size(std::size_t n) {
  n = std::max<std::size_t>(n, 1);
  std::size_t unit = n >= kHugePage ? kHugePage : (n >= kCachedMin ? kCachedMin : kAlign);
  return (n + unit - 1) / unit * unit;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free_lists;
  std::size_t live = 0, cached = 0, peak = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static teardown
  return *c;
}

// Blocks of 256 KiB and more are mapped directly rather than taken from
// malloc: glibc raises its mmap threshold after the first large free, so
// later blocks up to 32 MiB came from the heap, and freeing them left the
// pages resident (a quantize-on-load of a 1B model held 0.5 GB more than its
// live tensors). A mapping goes back to the system whole when freed. The
// cache above keeps repeated sizes from paying for the system calls.
void* system_alloc(std::size_t size) {
#ifdef __linux__
  if (size >= kMapped && size < kHugePage) {  // page-aligned, and rounded to 64 KiB
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("out of CPU memory mapping {} bytes", size);
    return p;
  }
  if (size >= kHugePage) {
    // Over-map by one huge page, then trim to a 2 MiB-aligned range.
    const std::size_t span = size + kHugePage;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) fail("out of CPU memory mapping {} bytes", size);
    const auto base = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > base) munmap(raw, aligned - base);
    const std::uintptr_t end = aligned + size, span_end = base + span;
    if (span_end > end) munmap(reinterpret_cast<void*>(end), span_end - end);
    madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // a hint; failure is harmless
    return reinterpret_cast<void*>(aligned);
  }
#endif
  void* p = std::aligned_alloc(kAlign, size);
  if (!p) fail("out of CPU memory allocating {} bytes", size);
  return p;
}

void system_free(void* p, std::size_t size) {
#ifdef __linux__
  if (size >= kMapped) {
    munmap(p, size);
    return;
  }
#endif
  std::free(p);
}

}  // namespace

void* host_alloc(std::size_t nbytes) {
  const std::size_t size = rounded_size(nbytes);
  Cache& c = cache();
  if (size >= kCachedMin) {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_lists.find(size);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      c.live += size;
      c.peak = std::max(c.peak, c.live);
      return p;
    }
  }
  void* p = system_alloc(size);
  std::lock_guard<std::mutex> lock(c.mutex);
  c.live += size;
  c.peak = std::max(c.peak, c.live);
  return p;
}

void host_free(void* ptr, std::size_t nbytes) {
  if (!ptr) return;
  const std::size_t size = rounded_size(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.live -= size;
    if (size >= kCachedMin && c.cached + size <= kCacheLimit) {
      c.free_lists[size].push_back(ptr);
      c.cached += size;
      return;
    }
  }
  system_free(ptr, size);
}

HostCacheStats host_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.live, c.cached, c.peak};
}

void host_reset_peak() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.peak = c.live;
}

void host_release_cached() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [size, blocks] : c.free_lists) {
    for (void* p : blocks) system_free(p, size);
  }
  c.free_lists.clear();
  c.cached = 0;
}

}  // namespace qs::engine::cpu
