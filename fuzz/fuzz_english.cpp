// The English sources: a WordNet data file and a GCIDE dictd database
// (plain or gzip; the first input byte picks which reader).
#include "data/english.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {
    const auto file = qs::fuzz::input_file(data + 1, size - 1, "wordnet/data.noun");
    qs::fuzz::refused_cleanly([&] { qs::data::read_wordnet(file.parent_path()); });
  } else {
    const auto file = qs::fuzz::input_file(data + 1, size - 1, (data[0] & 2) ? "gcide.dict.dz" : "gcide.dict");
    qs::fuzz::refused_cleanly([&] { qs::data::read_gcide(file); });
  }
  return 0;
}
