#pragma once
// `qslaw generate world`: the knowledge base's creatures with their facts,
// profile documents as pretraining sees them, recall probes, and samples of
// the English text, for a reader to judge the testbed.
#include <cstdint>
#include <string>

namespace qs::cli {

struct WorldSamples {
  int64_t creatures = 8;      // shown with every fact
  int64_t entity_count = 1500;  // size of the knowledge base they come from (the full profile's)
  int64_t documents = 6;
  int64_t probes = 4;
  int64_t english = 6;
  std::string wordnet = "/usr/share/wordnet";
  std::string gcide = "/usr/share/dictd/gcide.dict.dz";
  uint64_t seed = 0;
};
int generate_world(const WorldSamples& request);

}  // namespace qs::cli
