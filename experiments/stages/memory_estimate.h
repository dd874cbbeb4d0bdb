#pragma once
// A rough peak-memory estimate of one training step, checked before a stage
// trains: a config that cannot fit is refused with the estimate's parts
// instead of growing until the machine swaps or the kernel kills it.
// Calibrated on the default LLM (3.4M parameters, batch 8 x 256): estimate
// 319 MB against a measured tensor peak of 337 MB.
#include <cstdint>
#include <string>

namespace qs::experiments {

struct MemoryEstimate {
  double weights = 0;      // every parameter, as stored
  double training = 0;     // gradients and AdamW's two moments of the trainable ones
  double activations = 0;  // what a step keeps for backward, logits included
  double total() const { return weights + training + activations; }
  std::string describe() const;
};

// Activations of `tokens` positions through `layers` pre-norm blocks of width
// `dim` and MLP width `ffn` (about 12 dim + 4 ffn floats per token and layer).
double block_activation_bytes(int64_t tokens, int64_t layers, int64_t dim, int64_t ffn);

// Throws naming the stage when the estimate exceeds the memory available now
// (MemAvailable), or QSLAW_MAX_MEMORY_MB when that is set.
void check_memory(const MemoryEstimate& estimate, const std::string& stage);

}  // namespace qs::experiments
