#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine {

namespace {

struct Checked {
  Device dev;
  Tensor pad;  // contiguous u8 on dev, or undefined
};

Checked check_attention(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& key_padding) {
  QS_CHECK(q.defined() && k.defined() && v.defined(), "{}: undefined q, k or v", op);
  QS_CHECK(q.dim() == 4 && k.dim() == 4 && v.shape() == k.shape() && q.size(0) == k.size(0) &&
               q.size(1) == k.size(1) && q.size(3) == k.size(3),
           "{}: expected q (B, H, T, d) and k, v (B, H, S, d), got {}, {}, {}", op, describe(q),
           describe(k), describe(v));
  QS_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), "{}: dtypes differ: {}, {}, {}", op,
           describe(q), describe(k), describe(v));
  Checked c{op_device(op, {&q, &k, &v}), Tensor()};
  QS_CHECK(computable(q.dtype(), c.dev), "{}: needs f32 or f64 (or bf16/f16 on CUDA), got {}", op,
           describe(q));
  QS_CHECK(q.size(3) > 0, "{}: head dim is 0", op);
  if (key_padding.defined()) {
    QS_CHECK(key_padding.dtype() == DType::u8 && key_padding.shape() == Shape({q.size(0), k.size(2)}),
             "{}: key_padding must be u8 (B, S) = ({}, {}), got {}", op, q.size(0), k.size(2),
             describe(key_padding));
    QS_CHECK(key_padding.device().is_cpu() || key_padding.device() == c.dev,
             "{}: key_padding is on {} but q is on {}", op, key_padding.device().str(), c.dev.str());
    c.pad = key_padding.contiguous().to(c.dev);
  }
  return c;
}

DType lse_dtype(DType d) { return d == DType::f64 ? DType::f64 : DType::f32; }

// The CPU kernels read (B, H, T, d) operands in any layout whose rows have
// unit stride (engine/cpu/head_rows.h) and write outputs in their inputs'
// layout, so heads split from a projection by a transpose are never copied;
// the CUDA kernels take contiguous operands.
Tensor operand(const Tensor& x, Device dev) { return dev.is_cpu() && x.strides()[3] == 1 ? x : x.contiguous(); }
Tensor output_like(const Tensor& x, Device dev) {
  return dev.is_cpu() ? empty_like_layout(x) : Tensor(x.shape(), x.dtype(), dev);
}

}  // namespace

AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                                   bool causal, const Tensor& key_padding) {
  Checked c = check_attention("attention", q, k, v, key_padding);
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), s = k.size(2);
  const Tensor qo = operand(q, c.dev);
  AttentionForward f{output_like(qo, c.dev), Tensor({b, h, t}, lse_dtype(q.dtype()), c.dev)};
  QS_KERNEL(c.dev, Op::attention,
            attention_forward(qo, operand(k, c.dev), operand(v, c.dev), h, t, s, scale, causal, c.pad, f.out, f.lse));
  return f;
}

AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k,
                                  const Tensor& v, const AttentionForward& fwd, double scale,
                                  bool causal, const Tensor& key_padding) {
  Checked c = check_attention("attention_backward", q, k, v, key_padding);
  QS_CHECK(dout.defined() && dout.shape() == q.shape() && dout.dtype() == q.dtype(),
           "attention_backward: the output gradient {} must match q {}", describe(dout), describe(q));
  const int64_t h = q.size(1), t = q.size(2), s = k.size(2);
  const Tensor qo = operand(q, c.dev), ko = operand(k, c.dev), vo = operand(v, c.dev);
  AttentionGrads g{output_like(qo, c.dev), output_like(ko, c.dev), output_like(vo, c.dev)};
  QS_KERNEL(c.dev, Op::attention_backward,
            attention_backward(operand(dout, c.dev), qo, ko, vo, operand(fwd.out, c.dev), fwd.lse.contiguous(), h, t, s,
                               scale, causal, c.pad, g.dq, g.dk, g.dv));
  return g;
}

}  // namespace qs::engine
