// Fused attention (engine/ops_attention.cpp).
#include "autograd/functions.h"

namespace qs::autograd {

namespace e = qs::engine;

Var attention(const Var& q, const Var& k, const Var& v, double scale, bool causal,
              const Tensor& key_padding) {
  Tensor qd = q.data(), kd = k.data(), vd = v.data();
  e::AttentionForward f = e::attention_forward(qd, kd, vd, scale, causal, key_padding);
  return make_result(f.out, "attention", {q, k, v},
                     [qd, kd, vd, f, scale, causal, key_padding](const Tensor& g, const std::vector<bool>&) {
                       e::AttentionGrads d = e::attention_backward(g, qd, kd, vd, f, scale, causal, key_padding);
                       return std::vector<Tensor>{d.dq, d.dk, d.dv};
                     });
}

}  // namespace qs::autograd
