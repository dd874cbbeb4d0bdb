// A cache entry's done.json (its checksums are checked against one file).
#include "experiments/stage_cache.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const auto done = qs::fuzz::input_file(data, size, "entry/done.json");
  const auto root = done.parent_path().parent_path();
  std::ofstream(root / "entry" / "model.h5") << "weights";
  qs::experiments::CacheEntry entry{"stage", root / "entry", root / "entry.partial", root / "lock"};
  qs::fuzz::refused_cleanly([&] { qs::experiments::read_verified(entry, [](const std::string&) {}); });
  return 0;
}
