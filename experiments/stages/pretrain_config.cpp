#include "experiments/stages/pretrain_config.h"

#include "data/tokenizer.h"

namespace qs::experiments {

PretrainConfig read_pretrain_config(ConfigSection& s, uint64_t seed) {
  PretrainConfig c;
  c.corpus = read_corpus_config(s.section("corpus"), seed);
  ConfigSection tok = s.section("tokenizer");
  c.vocab_size = tok.get<int64_t>("vocab_size", c.vocab_size);
  c.tokenizer_documents = tok.get<int64_t>("train_documents", c.tokenizer_documents);
  tok.finish();
  QS_CHECK(c.vocab_size > data::Tokenizer::kNumSpecial + 256,
           "config {}: '{}' must exceed the {} byte and special tokens, got {}", s.file(),
           tok.path_of("vocab_size"), data::Tokenizer::kNumSpecial + 256, c.vocab_size);
  c.model = read_model_config(s.section("model"), seed);
  c.model.vocab_size = c.vocab_size;
  c.train = read_train_config(s.section("train"));
  QS_CHECK(c.train.seq_len <= c.model.max_seq_len, "config {}: '{}' ({}) exceeds '{}' ({})", s.file(),
           s.path_of("train.seq_len"), c.train.seq_len, s.path_of("model.max_seq_len"), c.model.max_seq_len);
  c.sample_prompt = s.get<std::string>("sample_prompt", "A triangle has");
  c.probes = read_probe_config(s.section("probes"));
  return c;
}


}  // namespace qs::experiments
