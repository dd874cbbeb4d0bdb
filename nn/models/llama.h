#pragma once
// The LLaMA-style decoder: token embedding, N pre-norm blocks (RMSNorm, RoPE
// attention, SwiGLU), final RMSNorm, untied LM head, no biases.
#include <functional>
#include <vector>

#include "nn/transformer_block.h"

namespace qs::nn {

struct LlamaConfig {
  int64_t vocab_size = 2048;
  int64_t dim = 256;
  int64_t n_layers = 8;
  int64_t n_heads = 8;
  int64_t n_kv_heads = 0;  // grouped-query attention; 0: n_heads
  int64_t ffn_hidden = 0;  // 0: LLaMA's rule (2/3 of 4 dim, multiple of 256)
  int64_t max_seq_len = 256;
  double norm_eps = 1e-6;
  double rope_theta = 10000.0;
  double rope_linear_factor = 1.0;  // linear RoPE scaling (positions / factor)
  double init_std = 0.02;
  bool scaled_residual_init = true;
  uint64_t seed = 0;

  int64_t hidden() const;
};

struct LlmForward {
  Tensor positions;                       // (T); default: cache length + arange(T)
  std::vector<KVCache>* caches = nullptr;  // one per layer, for incremental decoding
  Tensor key_padding;                     // (B, S) u8, 1 at padded keys
  bool hidden_states = false;             // report the input and every block's output
  // Rows of the flattened (B * T) positions to compute logits for (int64, R);
  // logits are then (R, vocab). A loss over a few answer tokens needs the
  // final norm and the LM head only there (target_rows gives them).
  Tensor logit_rows;
};

struct LlmOutput {
  Var logits;                      // (B, T, vocab), or (R, vocab) for LlmForward::logit_rows
  std::vector<Var> hidden_states;  // [0] embeddings, [i] output of block i-1; final norm not applied
};

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;         // 0: the whole vocabulary
  uint64_t seed = 0;
  bool use_cache = true;
  int64_t eos_id = -1;  // stop after emitting it; -1: never
};

// The positions of a next-token loss that have a target: rows (int64, R) of
// the flattened (B, T) targets that are not ignore_index, and those targets.
struct TargetRows {
  Tensor rows, targets;
};
TargetRows target_rows(const Tensor& targets, int64_t ignore_index);
// Summed log-probability of each sequence's targets (B, T) that are not
// ignore_index: f64 (B) on the CPU. `forward` computes the logits of the
// rows it is given (LlmForward::logit_rows) - a text-only or a multimodal
// forward; `who` names the caller in errors.
Tensor score_targets(const std::function<LlmOutput(const LlmForward&)>& forward, const Tensor& ids,
                     const Tensor& targets, int64_t ignore_index, const char* who);

class Llama : public Module {
 public:
  explicit Llama(const LlamaConfig& config);
  // Calls on_block(i, block) as soon as block i is built, before the next
  // one: a loader fills and shrinks (quantizes) each block in turn, so a
  // model larger than memory in f32 never exists in f32 all at once.
  // random_init false: weights start at zero (no draws), for a model whose
  // weights are loaded next; config().init_std still says how to initialize.
  using BlockHook = std::function<void(int64_t index, Module& block)>;
  Llama(const LlamaConfig& config, const BlockHook& on_block, bool random_init = true);

  Var embed(const Tensor& ids);  // (B, T) -> (B, T, D)
  LlmOutput forward(const Tensor& ids, const LlmForward& options = {});
  // Input embeddings given directly: the multimodal model splices image
  // embeddings into the token embeddings and calls this.
  LlmOutput forward_embeds(const Var& embeds, const LlmForward& options = {});
  // Continues `prompt` (token ids); returns only the new tokens.
  std::vector<int64_t> generate(const std::vector<int64_t>& prompt, const GenerateOptions& options);
  // Continues a prompt given as embeddings (1, T, D), e.g. with an image
  // spliced in; the prompt is run once and cached, then one token per step.
  std::vector<int64_t> generate_from_embeds(const Var& prompt, const GenerateOptions& options);
  // Continuations of B prompts at once: (B, T, D) embeddings left-padded to a
  // common end, key_padding (B, T) u8 marking the padding. One token list per
  // row, each ending at its eos (or max_new_tokens). Padding shifts a row's
  // positions, which RoPE does not see (it attends by relative position);
  // float rounding can differ from the one-prompt path.
  std::vector<std::vector<int64_t>> generate_batch_from_embeds(const Var& prompts, const Tensor& key_padding,
                                                               const GenerateOptions& options);
  // Summed log-probability of each row's targets (B, T) that are not
  // ignore_index: f64 (B) on the CPU; scores completions by likelihood.
  Tensor sequence_log_likelihood(const Tensor& ids, const Tensor& targets, int64_t ignore_index = -100);
  void set_checkpointing(bool on);

  const LlamaConfig& config() const { return config_; }

 private:
  LlamaConfig config_;
};

}  // namespace qs::nn
