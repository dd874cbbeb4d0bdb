#pragma once
#include "nn/init.h"
#include "nn/linear.h"

namespace qs::nn {

// Keys and values of earlier positions, for incremental decoding.
struct KVCache {
  Tensor k, v;  // (B, H_kv, S, head_dim); undefined until the first step
  int64_t length() const { return k.defined() ? k.size(2) : 0; }
};

struct AttentionConfig {
  int64_t dim = 256;
  int64_t n_heads = 8;
  // Key/value heads (grouped-query attention); 0: n_heads (multi-head).
  int64_t n_kv_heads = 0;
  bool causal = true;
  bool rope = true;
  double rope_theta = 10000.0;
  double rope_linear_factor = 1.0;  // positions divided by it (linear RoPE scaling)
  bool bias = false;
  // unfused: scores, mask, softmax and the weighted sum as separate ops (the
  // (T, S) matrix is held); fused: engine::attention_forward, which never
  // holds it (it assumes positions increase along the sequence, as they do);
  // automatic: fused on a GPU and for f32 on the CPU (where its kernel runs
  // query tiles through the GEMM); unfused for f64 on the CPU, whose fused
  // kernel is the double-precision reference loop.
  enum class Kernel { automatic, unfused, fused };
  Kernel kernel = Kernel::automatic;
};

// Multi-head (or grouped-query) self-attention with q_proj, k_proj, v_proj,
// o_proj children; k_proj and v_proj have n_kv_heads * head_dim outputs.
class Attention : public Module {
 public:
  Attention(const AttentionConfig& config, engine::Generator& gen, const InitConfig& init);

  // x: (B, T, D); positions: (T) absolute positions of x's tokens (for RoPE
  // and the causal mask); cache: append this step's keys/values and attend to
  // all of them; key_padding: (B, S) u8, 1 where a key is padding.
  Var forward(const Var& x, const Tensor& positions, KVCache* cache = nullptr,
              const Tensor& key_padding = Tensor());

  const AttentionConfig& config() const { return config_; }
  int64_t kv_heads() const { return config_.n_kv_heads > 0 ? config_.n_kv_heads : config_.n_heads; }

 private:
  AttentionConfig config_;
};

}  // namespace qs::nn
