#pragma once
// General English for the testbed (BENCHMARK.md, second edition): dictionary
// definitions from the files of two Debian packages, read at run time and
// never downloaded - WordNet's glosses (`wordnet-base`, data.noun/verb/adj/
// adv) and the GCIDE dictionary (`dict-gcide`, a dictd database, gzip- or
// dictzip-compressed or plain). Each definition becomes one short document
// ("abdomen: the belly, or that part of the body between the thorax and
// the pelvis."); the documents are cleaned, deduplicated and split into
// train and validation by a hash of their text, so the split does not depend
// on which other files were read. This is our WikiText.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qs::data {

struct EnglishConfig {
  std::string wordnet;  // directory with data.noun etc. ("" to skip)
  std::string gcide;    // gcide.dict.dz or gcide.dict ("" to skip)
  int64_t max_documents = 0;  // 0: all; else a deterministic subset
  double val_fraction = 0.02;
  uint64_t seed = 0;
};

struct EnglishText {
  std::vector<std::string> train, val;
};

// WordNet data files in `dir` (data.noun, data.verb, data.adj, data.adv;
// those that exist, at least one): one document per synset.
std::vector<std::string> read_wordnet(const std::filesystem::path& dir);
// A dictd text database (gzip/dictzip or plain): one document per sense.
std::vector<std::string> read_gcide(const std::filesystem::path& file);
// Both, cleaned, deduplicated, subsampled and split.
EnglishText load_english(const EnglishConfig& config);

// Squeezes whitespace, drops control bytes and invalid UTF-8.
std::string clean_text(const std::string& text);

}  // namespace qs::data
