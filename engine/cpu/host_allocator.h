#pragma once
// CPU memory for tensors. Blocks of 64 KiB and more are kept on free lists by
// rounded size when released and handed out again, so a training step that
// allocates the same activations every iteration stops paying for mmap,
// page faults and page zeroing (which also serialise threads on the kernel's
// memory map). Blocks of 2 MiB and more sit on transparent huge pages.
#include <cstddef>

namespace qs::engine::cpu {

void* host_alloc(std::size_t nbytes);
void host_free(void* ptr, std::size_t nbytes);

struct HostCacheStats {
  std::size_t live_bytes;    // handed out and not yet released
  std::size_t cached_bytes;  // released, kept for reuse
  std::size_t peak_live_bytes;
};
HostCacheStats host_cache_stats();
// Starts a new peak measurement from the bytes live now (one per stage).
void host_reset_peak();
// Returns every cached block to the system.
void host_release_cached();

}  // namespace qs::engine::cpu
