#include "nn/attention.h"

#include <cmath>

#include "autograd/functions.h"

namespace qs::nn {

namespace ag = qs::autograd;
namespace e = qs::engine;

Attention::Attention(const AttentionConfig& c, e::Generator& gen, const InitConfig& init)
    : config_(c) {
  QS_CHECK(c.n_heads > 0 && c.dim % c.n_heads == 0,
           "Attention: dim {} is not divisible by n_heads {}", c.dim, c.n_heads);
  QS_CHECK(!c.rope || (c.dim / c.n_heads) % 2 == 0, "Attention: RoPE needs an even head_dim, got {}",
           c.dim / c.n_heads);
  QS_CHECK(c.n_kv_heads >= 0 && c.n_heads % kv_heads() == 0,
           "Attention: n_kv_heads {} must divide n_heads {}", c.n_kv_heads, c.n_heads);
  QS_CHECK(c.rope_linear_factor > 0, "Attention: rope_linear_factor must be positive, got {}", c.rope_linear_factor);
  const int64_t kv_dim = kv_heads() * (c.dim / c.n_heads);
  register_module("q_proj", std::make_shared<Linear>(c.dim, c.dim, c.bias, gen, init.std));
  register_module("k_proj", std::make_shared<Linear>(c.dim, kv_dim, c.bias, gen, init.std));
  register_module("v_proj", std::make_shared<Linear>(c.dim, kv_dim, c.bias, gen, init.std));
  register_module("o_proj", std::make_shared<Linear>(c.dim, c.dim, c.bias, gen, init.residual_std()));
}

Var Attention::forward(const Var& x, const Tensor& positions, KVCache* cache,
                       const Tensor& key_padding) {
  QS_CHECK(x.dim() == 3 && x.size(2) == config_.dim, "Attention: input must be (B, T, {}), got {}",
           config_.dim, engine::describe(x.data()));
  const int64_t b = x.size(0), t = x.size(1), h = config_.n_heads, hd = config_.dim / h;
  QS_CHECK(positions.dim() == 1 && positions.size(0) == t,
           "Attention: positions must be (T) with T = {}, got {}", t, engine::describe(positions));
  auto heads = [&](const char* proj, int64_t n) {  // (B, T, n hd) -> (B, n, T, hd)
    return ag::transpose(ag::reshape(child<LinearLayer>(proj).forward(x), {b, t, n, hd}), 1, 2);
  };
  Var q = heads("q_proj", h), k = heads("k_proj", kv_heads()), v = heads("v_proj", kv_heads());
  if (config_.rope) {
    const double scale = 1.0 / config_.rope_linear_factor;
    q = ag::rope(q, positions, config_.rope_theta, scale);
    k = ag::rope(k, positions, config_.rope_theta, scale);
  }
  Tensor key_pos = positions;
  if (cache) {
    if (cache->length() > 0) {
      k = ag::concat({Var(cache->k), k}, 2);
      v = ag::concat({Var(cache->v), v}, 2);
    }
    cache->k = k.data();
    cache->v = v.data();
    key_pos = e::arange(0, static_cast<double>(k.size(2)));
  }
  const int64_t s = k.size(2);
  const bool fused = config_.kernel == AttentionConfig::Kernel::fused ||
                     (config_.kernel == AttentionConfig::Kernel::automatic &&
                      (x.data().device().is_cuda() || x.dtype() == DType::f32));
  if (fused) {
    Var out = ag::attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(hd)), config_.causal, key_padding);
    out = ag::reshape(ag::transpose(out, 1, 2), {b, t, config_.dim});
    return child<LinearLayer>("o_proj").forward(out);
  }
  k = ag::repeat_kv(k, h);
  v = ag::repeat_kv(v, h);
  // The scale goes on q (B T D values) rather than on the scores (B H T S).
  Var scores = ag::matmul(q * (1.0 / std::sqrt(static_cast<double>(hd))), ag::transpose(k, -1, -2));
  Tensor mask;  // (T, S) or (B, 1, T, S), 1 where attention is not allowed
  if (config_.causal) {
    const engine::Device dev = scores.data().device();
    mask = e::gt(key_pos.to(dev).to(DType::i64).view({1, s}), positions.to(dev).to(DType::i64).view({t, 1}));
  }
  if (key_padding.defined()) {
    QS_CHECK(key_padding.dtype() == DType::u8 && key_padding.shape() == Shape({b, s}),
             "Attention: key_padding must be u8 (B, S) = ({}, {}), got {}", b, s,
             engine::describe(key_padding));
    Tensor pad = key_padding.to(scores.data().device()).view({b, 1, 1, s});
    mask = mask.defined() ? e::maximum(mask, pad) : pad;
  }
  if (mask.defined()) scores = ag::masked_fill(scores, mask.to(scores.data().device()), -INFINITY);
  Var out = ag::matmul(ag::softmax(scores), v);                 // (B, H, T, hd)
  out = ag::reshape(ag::transpose(out, 1, 2), {b, t, config_.dim});  // (B, T, D)
  return child<LinearLayer>("o_proj").forward(out);
}

}  // namespace qs::nn
