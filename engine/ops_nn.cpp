#include <optional>

#include "engine/dispatch.h"
#include "engine/ops.h"

namespace qs::engine {

namespace {

void check_float(const char* op, const Tensor& x, const char* what) {
  QS_CHECK(x.defined(), "{}: {} is an undefined tensor", op, what);
  QS_CHECK(computable(x.dtype(), x.device()),
           "{}: {} must be f32 or f64 (or bf16/f16 on CUDA), got {}", op, what, describe(x));
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  QS_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(),
           "{}: operands must match in shape and dtype, got {} and {}", op, describe(a),
           describe(b));
}

// An integer index tensor as contiguous i64 on `dev`, every entry checked
// against [0, n) (entries equal to `allowed` are exempt: the ignore index).
// Index tensors may live on the CPU while the data is on a GPU: they are
// host-side bookkeeping (token ids, targets, positions) and move over here.
Tensor checked_indices(const char* op, const Tensor& idx, int64_t n, const char* what, Device dev,
                       std::optional<int64_t> allowed = std::nullopt) {
  QS_CHECK(idx.defined(), "{}: {} is an undefined tensor", op, what);
  QS_CHECK(idx.dtype() == DType::i64 || idx.dtype() == DType::i32,
           "{}: {} must be i32 or i64, got {}", op, what, describe(idx));
  QS_CHECK(idx.device().is_cpu() || idx.device() == dev, "{}: {} is on {} but the data is on {}",
           op, what, idx.device().str(), dev.str());
  Tensor i64 = idx.to(Device::cpu()).to(DType::i64).contiguous();
  const int64_t* p = i64.data<int64_t>();
  for (int64_t i = 0; i < i64.numel(); ++i) {
    if (allowed && p[i] == *allowed) continue;
    QS_CHECK(p[i] >= 0 && p[i] < n, "{}: {} holds {} at position {}, out of range [0, {})", op,
             what, p[i], i, n);
  }
  return i64.to(dev);
}

}  // namespace

Tensor softmax(const Tensor& x) {
  check_float("softmax", x, "input");
  QS_CHECK(x.dim() >= 1, "softmax: needs rank >= 1, got {}", describe(x));
  Device dev = op_device("softmax", {&x});
  Tensor out(x.shape(), x.dtype(), dev);
  QS_KERNEL(dev, "softmax", softmax(x.contiguous(), out, false));
  return out;
}

Tensor log_softmax(const Tensor& x) {
  check_float("log_softmax", x, "input");
  QS_CHECK(x.dim() >= 1, "log_softmax: needs rank >= 1, got {}", describe(x));
  Device dev = op_device("log_softmax", {&x});
  Tensor out(x.shape(), x.dtype(), dev);
  QS_KERNEL(dev, "log_softmax", softmax(x.contiguous(), out, true));
  return out;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy) {
  check_float("softmax_backward", y, "output");
  check_same_shape("softmax_backward", y, dy);
  Device dev = op_device("softmax_backward", {&y, &dy});
  Tensor dx(y.shape(), y.dtype(), dev);
  QS_KERNEL(dev, "softmax_backward", softmax_backward(y.contiguous(), dy.contiguous(), dx, false));
  return dx;
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& dy) {
  check_float("log_softmax_backward", y, "output");
  check_same_shape("log_softmax_backward", y, dy);
  Device dev = op_device("log_softmax_backward", {&y, &dy});
  Tensor dx(y.shape(), y.dtype(), dev);
  QS_KERNEL(dev, "log_softmax_backward", softmax_backward(y.contiguous(), dy.contiguous(), dx, true));
  return dx;
}

static void check_norm_params(const char* op, const Tensor& x, const Tensor& p, const char* what) {
  if (!p.defined()) return;
  QS_CHECK(p.dim() == 1 && p.size(0) == x.size(-1) && p.dtype() == x.dtype(),
           "{}: {} must be {}[{}] to match input {}, got {}", op, what, dtype_name(x.dtype()),
           x.size(-1), describe(x), describe(p));
}

NormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               double eps) {
  check_float("layer_norm", x, "input");
  QS_CHECK(x.dim() >= 1 && x.size(-1) > 0, "layer_norm: needs a non-empty last dim, got {}",
           describe(x));
  check_norm_params("layer_norm", x, weight, "weight");
  check_norm_params("layer_norm", x, bias, "bias");
  Device dev = op_device("layer_norm", {&x, &weight, &bias});
  const int64_t rows = x.numel() / x.size(-1);
  NormForward f{Tensor(x.shape(), x.dtype(), dev), Tensor({rows}, x.dtype(), dev),
                Tensor({rows}, x.dtype(), dev)};
  QS_KERNEL(dev, "layer_norm",
            layer_norm(x.contiguous(), weight.defined() ? weight.contiguous() : weight,
                       bias.defined() ? bias.contiguous() : bias, eps, f.y, f.mean, f.rstd));
  return f;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return layer_norm_forward(x, weight, bias, eps).y;
}

NormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                              const Tensor& bias, const NormForward& fwd) {
  check_same_shape("layer_norm_backward", dy, x);
  Device dev = op_device("layer_norm_backward", {&dy, &x, &weight});
  NormGrads g;
  g.dx = Tensor(x.shape(), x.dtype(), dev);
  if (weight.defined()) g.dweight = Tensor(weight.shape(), x.dtype(), dev);
  if (bias.defined()) g.dbias = Tensor(bias.shape(), x.dtype(), dev);
  QS_KERNEL(dev, "layer_norm_backward",
            layer_norm_backward(dy.contiguous(), x.contiguous(),
                                weight.defined() ? weight.contiguous() : weight, fwd.mean,
                                fwd.rstd, g.dx, g.dweight, g.dbias));
  return g;
}

NormForward rms_norm_forward(const Tensor& x, const Tensor& weight, double eps) {
  check_float("rms_norm", x, "input");
  QS_CHECK(x.dim() >= 1 && x.size(-1) > 0, "rms_norm: needs a non-empty last dim, got {}",
           describe(x));
  check_norm_params("rms_norm", x, weight, "weight");
  Device dev = op_device("rms_norm", {&x, &weight});
  const int64_t rows = x.numel() / x.size(-1);
  NormForward f{Tensor(x.shape(), x.dtype(), dev), Tensor(), Tensor({rows}, x.dtype(), dev)};
  QS_KERNEL(dev, "rms_norm",
            rms_norm(x.contiguous(), weight.defined() ? weight.contiguous() : weight, eps, f.y,
                     f.rstd));
  return f;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return rms_norm_forward(x, weight, eps).y;
}

NormGrads rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                            const NormForward& fwd) {
  check_same_shape("rms_norm_backward", dy, x);
  Device dev = op_device("rms_norm_backward", {&dy, &x, &weight});
  NormGrads g;
  g.dx = Tensor(x.shape(), x.dtype(), dev);
  if (weight.defined()) g.dweight = Tensor(weight.shape(), x.dtype(), dev);
  QS_KERNEL(dev, "rms_norm_backward",
            rms_norm_backward(dy.contiguous(), x.contiguous(),
                              weight.defined() ? weight.contiguous() : weight, fwd.rstd, g.dx,
                              g.dweight));
  return g;
}

Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool inverse) {
  check_float("rope", x, "input");
  QS_CHECK(x.dim() >= 2 && x.size(-1) % 2 == 0,
           "rope: input must be (..., T, D) with even D, got {}", describe(x));
  QS_CHECK(positions.defined() && positions.dim() == 1 && positions.size(0) == x.size(-2),
           "rope: positions must be 1-D with T = {} entries, got {}", x.size(-2),
           describe(positions));
  QS_CHECK(positions.dtype() == DType::i64 || positions.dtype() == DType::i32,
           "rope: positions must be i32 or i64, got {}", describe(positions));
  Device dev = op_device("rope", {&x});
  QS_CHECK(positions.device().is_cpu() || positions.device() == dev,
           "rope: positions are on {} but the input is on {}", positions.device().str(), dev.str());
  Tensor pos = positions.to(DType::i64).contiguous().to(dev);
  // The CPU kernel rotates rows in place of any layout and keeps it (heads
  // split by a transpose stay uncopied); the CUDA kernel takes contiguous x.
  const Tensor xs = dev.is_cpu() && x.strides().back() == 1 ? x : x.contiguous();
  Tensor out = dev.is_cpu() ? empty_like_layout(xs) : Tensor(x.shape(), x.dtype(), dev);
  QS_KERNEL(dev, "rope", rope(xs, pos, theta, inverse, out));
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  check_float("cross_entropy", logits, "logits");
  QS_CHECK(logits.dim() == 2 && logits.size(1) > 0,
           "cross_entropy: logits must be (N, V) with V > 0, got {}", describe(logits));
  QS_CHECK(targets.defined() && targets.dim() == 1 && targets.size(0) == logits.size(0),
           "cross_entropy: targets must be (N) with N = {}, got {}", logits.size(0),
           describe(targets));
  Device dev = op_device("cross_entropy", {&logits});
  Tensor t =
      checked_indices("cross_entropy", targets, logits.size(1), "targets", dev, ignore_index);
  Tensor loss({}, logits.dtype(), dev);
  QS_KERNEL(dev, "cross_entropy", cross_entropy(logits.contiguous(), t, ignore_index, loss));
  return loss;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                              double grad) {
  check_float("cross_entropy_backward", logits, "logits");
  QS_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0),
           "cross_entropy_backward: expected logits (N, V) and targets (N), got {} and {}",
           describe(logits), describe(targets));
  Device dev = op_device("cross_entropy_backward", {&logits});
  Tensor t = checked_indices("cross_entropy_backward", targets, logits.size(1), "targets", dev,
                             ignore_index);
  Tensor d(logits.shape(), logits.dtype(), dev);
  QS_KERNEL(dev, "cross_entropy_backward",
            cross_entropy_backward(logits.contiguous(), t, ignore_index, grad, d));
  return d;
}

// ---------------------------------------------------------------- indexing

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& idx) {
  QS_CHECK(x.defined(), "index_select: input is an undefined tensor");
  QS_CHECK(idx.defined() && idx.dim() == 1, "index_select: index must be 1-D, got {}",
           describe(idx));
  int d = normalize_dim("index_select", dim, x.dim());
  Device dev = op_device("index_select", {&x});
  Tensor i64 = checked_indices("index_select", idx, x.size(d), "index", dev);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  Shape shape = x.shape();
  shape[d] = i64.numel();
  Tensor out(shape, x.dtype(), dev);
  QS_KERNEL(dev, "index_select", index_select(x.contiguous(), outer, x.size(d), inner, i64, out));
  return out;
}

void index_add_(const Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) {
  check_float("index_add_", dst, "destination");
  QS_CHECK(dst.is_contiguous(), "index_add_: destination {} must be contiguous", describe(dst));
  QS_CHECK(idx.defined() && idx.dim() == 1, "index_add_: index must be 1-D, got {}",
           describe(idx));
  int d = normalize_dim("index_add_", dim, dst.dim());
  Shape expect = dst.shape();
  expect[d] = idx.numel();
  QS_CHECK(src.defined() && src.shape() == expect && src.dtype() == dst.dtype(),
           "index_add_: source must be {}{} for destination {} and {} indices, got {}",
           dtype_name(dst.dtype()), shape_str(expect), describe(dst), idx.numel(), describe(src));
  Device dev = op_device("index_add_", {&dst, &src});
  Tensor i64 = checked_indices("index_add_", idx, dst.size(d), "index", dev);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= dst.size(i);
  for (int64_t i = d + 1; i < dst.dim(); ++i) inner *= dst.size(i);
  QS_KERNEL(dev, "index_add_", index_add(dst, outer, dst.size(d), inner, i64, src.contiguous()));
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  QS_CHECK(weight.defined() && weight.dim() == 2, "embedding: weight must be (V, D), got {}",
           describe(weight));
  QS_CHECK(ids.defined(), "embedding: ids is an undefined tensor");
  Shape shape = ids.shape();
  shape.push_back(weight.size(1));
  return index_select(weight, 0, ids.reshape({ids.numel()})).view(shape);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  QS_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  QS_CHECK(first.defined(), "concat: tensor 0 is undefined");
  int d = normalize_dim("concat", dim, first.dim());
  Shape shape = first.shape();
  int64_t total = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    QS_CHECK(x.defined(), "concat: tensor {} is undefined", i);
    QS_CHECK(x.dtype() == first.dtype(), "concat: tensor {} is {} but tensor 0 is {}", i,
             describe(x), describe(first));
    bool ok = x.dim() == first.dim();
    for (int64_t k = 0; ok && k < x.dim(); ++k) ok = k == d || x.size(k) == first.size(k);
    QS_CHECK(ok, "concat: tensor {} {} does not match tensor 0 {} outside dim {}", i,
             describe(x), describe(first), d);
    total += x.size(d);
  }
  shape[d] = total;
  Device dev = op_device("concat", {&first});
  Tensor out(shape, first.dtype(), dev);
  int64_t at = 0;
  for (const Tensor& x : xs) {
    op_device("concat", {&first, &x});
    copy_(out.slice(d, at, at + x.size(d)), x);
    at += x.size(d);
  }
  return out;
}

}  // namespace qs::engine
