#pragma once
// The text corpus of BENCHMARK.md: knowledge sentences in varied templates,
// scene descriptions without images and short word problems, generated from
// a seed, plus any plain-text files a config names.
#include <cstdint>
#include <string>
#include <vector>

namespace qs::data {

struct CorpusConfig {
  uint64_t seed = 0;
  int64_t documents = 20000;  // generated documents (each a few sentences)
  double val_fraction = 0.05;
  std::vector<std::string> text_files;  // split into paragraphs at blank lines
};

struct Corpus {
  std::vector<std::string> train;
  std::vector<std::string> val;
};

Corpus make_corpus(const CorpusConfig& config);
// One generated document; document i of a seed is always the same text.
std::string corpus_document(uint64_t seed, int64_t index);

}  // namespace qs::data
