#pragma once
// Language-model data: documents tokenised, framed by <s> ... </s>, packed
// into fixed-length sequences, and served in shuffled batches whose order is
// a pure function of (seed, step), so a resumed run sees the same batches.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "engine/tensor.h"

namespace qs::data {

// (N, seq_len + 1) i64: inputs are [:, :-1], targets [:, 1:]. Consecutive
// rows overlap by one token, so every token is a target exactly once.
engine::Tensor pack_sequences(const std::vector<std::string>& documents, const Tokenizer& tok,
                              int64_t seq_len);
// The same for any tokenizer: encode_document returns a document's ids with
// whatever framing (<s> ... </s>) the model was trained on.
engine::Tensor pack_sequences(const std::vector<std::string>& documents,
                              const std::function<std::vector<int64_t>(const std::string&)>& encode_document,
                              int64_t seq_len);

struct LmBatch {
  engine::Tensor inputs;   // (B, T) i64
  engine::Tensor targets;  // (B, T) i64
};

class LmBatches {
 public:
  // Drops the last partial batch of each epoch.
  LmBatches(engine::Tensor sequences, int64_t batch_size, uint64_t seed);
  LmBatch batch(int64_t step) const;  // any step, in any order
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  engine::Tensor sequences_;
  int64_t batch_size_;
  uint64_t seed_;
  int64_t steps_per_epoch_;
};

}  // namespace qs::data
