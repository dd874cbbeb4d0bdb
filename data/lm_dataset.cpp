#include "data/lm_dataset.h"

#include <algorithm>
#include <numeric>

#include "engine/ops.h"

namespace qs::data {

namespace e = qs::engine;

e::Tensor pack_sequences(const std::vector<std::string>& documents, const Tokenizer& tok,
                         int64_t seq_len) {
  return pack_sequences(
      documents,
      [&](const std::string& d) {
        std::vector<int64_t> ids{Tokenizer::kBos};
        const auto body = tok.encode(d);
        ids.insert(ids.end(), body.begin(), body.end());
        ids.push_back(Tokenizer::kEos);
        return ids;
      },
      seq_len);
}

e::Tensor pack_sequences(const std::vector<std::string>& documents,
                         const std::function<std::vector<int64_t>(const std::string&)>& encode_document,
                         int64_t seq_len) {
  QS_CHECK(seq_len > 0, "pack_sequences: seq_len must be positive, got {}", seq_len);
  std::vector<int64_t> stream;
  for (const std::string& d : documents) {
    const std::vector<int64_t> ids = encode_document(d);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  const int64_t total = static_cast<int64_t>(stream.size());
  const int64_t rows = total > seq_len ? (total - 1) / seq_len : 0;
  QS_CHECK(rows > 0, "pack_sequences: {} tokens are not enough for one sequence of {}", total, seq_len + 1);
  e::Tensor out({rows, seq_len + 1}, e::DType::i64);
  int64_t* p = out.data<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(stream.begin() + r * seq_len, seq_len + 1, p + r * (seq_len + 1));
  }
  return out;
}

LmBatches::LmBatches(e::Tensor sequences, int64_t batch_size, uint64_t seed)
    : sequences_(std::move(sequences)), batch_size_(batch_size), seed_(seed) {
  QS_CHECK(sequences_.dim() == 2 && sequences_.dtype() == e::DType::i64,
           "LmBatches: sequences must be i64 (N, T + 1), got {}", e::describe(sequences_));
  QS_CHECK(batch_size > 0 && batch_size <= sequences_.size(0),
           "LmBatches: batch size {} must be in [1, {}] (the number of sequences)", batch_size,
           sequences_.size(0));
  steps_per_epoch_ = sequences_.size(0) / batch_size;
}

LmBatch LmBatches::batch(int64_t step) const {
  const int64_t epoch = step / steps_per_epoch_, within = step % steps_per_epoch_;
  const int64_t n = sequences_.size(0);
  // This epoch's order: sort indices by a counter-based random key.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> key(n);
  const uint64_t epoch_seed = seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch);
  for (int64_t i = 0; i < n; ++i) key[i] = e::uniform_f64(epoch_seed, static_cast<uint64_t>(i));
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key[a] < key[b]; });
  std::vector<int64_t> pick(order.begin() + within * batch_size_, order.begin() + (within + 1) * batch_size_);
  e::Tensor rows = e::index_select(sequences_, 0, e::from_vector(pick));
  const int64_t t = sequences_.size(1) - 1;
  return {rows.slice(1, 0, t).contiguous(), rows.slice(1, 1, t + 1).contiguous()};
}

}  // namespace qs::data
