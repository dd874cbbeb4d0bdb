// tokenizer.json, then encoding and decoding with whatever it loaded.
#include "data/tokenizer.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const auto path = qs::fuzz::input_file(data, size, "tokenizer.json");
  qs::fuzz::refused_cleanly([&] {
    const qs::data::Tokenizer tok = qs::data::Tokenizer::load(path);
    tok.decode(tok.encode("A red <image> triangle has 3 sides.", true), false);
  });
  return 0;
}
