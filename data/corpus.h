#pragma once
// The text corpus of BENCHMARK.md: knowledge sentences in varied templates,
// scene descriptions without images and short word problems, generated from
// a seed; profiles of the knowledge base's creatures (data/entities.h);
// general English from Debian's dictionaries (data/english.h); plus any
// plain-text files a config names.
#include <cstdint>
#include <string>
#include <vector>

#include "data/english.h"
#include "data/entities.h"

namespace qs::data {

struct CorpusConfig {
  uint64_t seed = 0;
  int64_t documents = 20000;  // generated documents (each a few sentences)
  double val_fraction = 0.05;
  std::vector<std::string> text_files;  // split into paragraphs at blank lines
  EntityConfig entities;                // entities.seed is the corpus seed
  int64_t entity_documents = 0;         // creature profiles (entity_document)
  EnglishConfig english;                // nothing read unless a source is named
};

struct Corpus {
  std::vector<std::string> train;        // every source; the English documents come last
  std::size_t english_first = 0;         // train[english_first, end) is English (none: train.size())
  std::vector<std::string> val;          // held-out world text (generated, profiles, text files)
  std::vector<std::string> val_english;  // held-out English (empty without an English source)
};

Corpus make_corpus(const CorpusConfig& config);
// One generated document; document i of a seed is always the same text.
std::string corpus_document(uint64_t seed, int64_t index);

}  // namespace qs::data
