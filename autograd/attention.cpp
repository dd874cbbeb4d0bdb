// Fused attention (engine/ops_attention.cpp).
#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var repeat_kv(const Var& kv, int64_t heads) {
  QS_CHECK(kv.dim() == 4 && kv.size(1) > 0 && heads % kv.size(1) == 0,
           "repeat_kv: {} key/value heads cannot serve {} query heads (need a (B, H_kv, S, d) input with H_kv "
           "dividing them), got {}",
           kv.dim() == 4 ? kv.size(1) : 0, heads, engine::describe(kv.data()));
  const int64_t b = kv.size(0), hkv = kv.size(1), s = kv.size(2), d = kv.size(3);
  if (hkv == heads) return kv;
  return reshape(expand(unsqueeze(kv, 2), {b, hkv, heads / hkv, s, d}), {b, heads, s, d});
}

Var attention(const Var& q_in, const Var& k_in, const Var& v_in, double scale, bool causal,
              const Tensor& key_padding) {
  // The kernels see one key/value head per query head; a shared head's
  // gradient is summed back by repeat_kv's backward.
  const Var& q = q_in;
  const bool grouped = q_in.dim() == 4 && k_in.dim() == 4 && k_in.size(1) != q_in.size(1);
  const Var k = grouped ? repeat_kv(k_in, q_in.size(1)) : k_in;
  const Var v = grouped ? repeat_kv(v_in, q_in.size(1)) : v_in;
  Tensor qd = q.data(), kd = k.data(), vd = v.data();
  e::AttentionForward f = e::attention_forward(qd, kd, vd, scale, causal, key_padding);
  return make_result(f.out, "attention", {q, k, v},
                     [qd, kd, vd, f, scale, causal, key_padding](const Tensor& g, const std::vector<bool>&) {
                       e::AttentionGrads d = e::attention_backward(g, qd, kd, vd, f, scale, causal, key_padding);
                       return std::vector<Tensor>{d.dq, d.dk, d.dv};
                     });
}

}  // namespace qs::autograd
