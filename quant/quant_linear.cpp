#include "quant/quant_linear.h"

#include "autograd/functions.h"
#include "engine/ops.h"
#include "quant/dequant_linear.h"
#include "quant/fake_quant.h"
#include "quant/packing.h"

namespace qs::quant {

namespace ag = qs::autograd;
namespace e = qs::engine;

namespace {
constexpr int64_t kMatvecRows = 4;  // up to this many input rows use the fused kernel
}

QuantLinear::QuantLinear(const nn::Linear& source, const QuantSpec& spec)
    : spec_(spec), in_(source.in_features()), out_(source.out_features()) {
  spec_.check();
  // The master weight shares an f32 source's storage rather than copying it:
  // surgery drops the source, and quantizing a 7B model on load would
  // otherwise hold every weight twice. Nothing writes to a frozen master.
  const e::Tensor& w = source.weight.data();
  weight_ = register_parameter("weight", w.dtype() == e::DType::f32 ? w : w.to(e::DType::f32), false);
  if (source.bias.defined()) bias_ = register_parameter("bias", source.bias.data().clone(), false);
  const GroupParams g = minmax_params(weight_.data(), spec_);
  register_buffer("scale", g.scale);
  register_buffer("zero", g.zero);
}

GroupParams QuantLinear::grid() const {
  if (mode_ == QuantMode::clipping) return lwc_params(weight_.data(), clip_upper_.data(), clip_lower_.data(), spec_);
  return {buffer("scale"), buffer("zero")};
}

void QuantLinear::enable_clipping(double init) {
  QS_CHECK(mode_ == QuantMode::grid && !alpha_.defined(),
           "QuantLinear: clipping needs grid mode without scale learning");
  if (!clip_upper_.defined()) {
    const Tensor like = buffer("scale");
    clip_upper_ = register_parameter("clip_upper", e::full(like.shape(), init, like.dtype(), like.device()));
    clip_lower_ = register_parameter("clip_lower", e::full(like.shape(), init, like.dtype(), like.device()));
  } else {  // a second calibration starts afresh
    e::fill_(clip_upper_.data(), init);
    e::fill_(clip_lower_.data(), init);
    clip_upper_.set_requires_grad(true);
    clip_lower_.set_requires_grad(true);
  }
  mode_ = QuantMode::clipping;
}

void QuantLinear::freeze_grid() {
  QS_CHECK(mode_ == QuantMode::clipping, "QuantLinear: freeze_grid needs clipping mode");
  const GroupParams g = grid();
  e::copy_(buffer("scale"), g.scale);
  e::copy_(buffer("zero"), g.zero);
  clip_upper_.set_requires_grad(false);
  clip_lower_.set_requires_grad(false);
  mode_ = QuantMode::grid;
}

void QuantLinear::set_grid(const GroupParams& grid) {
  QS_CHECK(mode_ == QuantMode::grid, "QuantLinear: set_grid needs grid mode");
  const Tensor scale = buffer("scale"), zero = buffer("zero");
  QS_CHECK(grid.scale.shape() == scale.shape() && grid.zero.shape() == zero.shape(),
           "QuantLinear: grid scale {} / zero {} must both be {}", e::describe(grid.scale), e::describe(grid.zero),
           e::describe(scale));
  e::copy_(scale, grid.scale);
  e::copy_(zero, grid.zero);
}

void QuantLinear::enable_scale_learning() {
  QS_CHECK(mode_ == QuantMode::grid, "QuantLinear: scale learning needs grid mode (freeze the clipping first)");
  if (!alpha_.defined()) alpha_ = register_parameter("alpha", e::ones_like(buffer("scale")));
  alpha_.set_requires_grad(true);
}

void QuantLinear::reset_alpha() {
  QS_CHECK(alpha_.defined(), "QuantLinear: no alpha to reset (scale learning is off)");
  e::fill_(alpha_.data(), 1.0);
  alpha_.zero_grad();
}

Var QuantLinear::quantized_weight() const {
  if (mode_ == QuantMode::clipping) return fake_quantize_lwc(weight_, clip_upper_, clip_lower_, spec_);
  return fake_quantize_grid(weight_, grid(), alpha_, spec_);
}

Var QuantLinear::forward(const Var& x) {
  QS_CHECK(x.size(-1) == in_, "QuantLinear: input {} does not end in in_features = {}", e::describe(x.data()), in_);
  Var y;
  if (mode_ == QuantMode::packed) {
    y = forward_packed(x);
  } else {
    y = ag::matmul(x, ag::transpose(bypass_ ? weight_ : quantized_weight(), 0, 1));
  }
  return bias_.defined() ? y + bias_ : y;
}

Var QuantLinear::forward_packed(const Var& x) const {
  const Tensor packed = buffer("qweight"), scale = buffer("scale"), zero = buffer("zero");
  const int bits = spec_.bits;
  const int64_t group = spec_.group_size;
  const int64_t rows = x.numel() / in_;
  if (bits == 4 && rows <= kMatvecRows && group % 2 == 0 && in_ % 2 == 0 &&
      !(autograd::grad_enabled() && x.requires_grad())) {
    // Decoding: a fused kernel on the packed codes (memory bound, so the 8x
    // smaller weights are what makes it fast).
    Tensor x2 = x.data().to(e::DType::f32).reshape({rows, in_});
    Tensor y = e::matvec_4bit(x2, packed, scale, zero, group);
    e::Shape shape = x.shape();
    shape.back() = out_;
    return Var(y.view(shape));
  }
  return dequant_linear(x, in_, out_, [=](int64_t r0, const Tensor& tile) {
    e::dequantize_packed_(tile, r0, packed, scale, zero, bits, group);
  }, "quant_linear_packed");
}

void QuantLinear::to_real() {
  QS_CHECK(mode_ == QuantMode::grid, "QuantLinear: to_real needs grid mode (freeze the clipping first)");
  Tensor codes = quantize(weight_.data(), grid(), spec_, alpha_.defined() ? alpha_.data() : Tensor());
  set_buffer("qweight", pack_codes(codes, spec_.bits));
  remove_parameter("weight");
  weight_ = Var();
  if (alpha_.defined()) {
    remove_parameter("alpha");
    alpha_ = Var();
  }
  if (clip_upper_.defined()) {
    remove_parameter("clip_upper");
    remove_parameter("clip_lower");
    clip_upper_ = clip_lower_ = Var();
  }
  bypass_ = false;
  mode_ = QuantMode::packed;
}

Tensor QuantLinear::effective_weight() const {
  if (mode_ == QuantMode::packed) {
    return e::dequantize_packed(buffer("qweight"), buffer("scale"), buffer("zero"), spec_.bits, spec_.group_size, in_);
  }
  autograd::NoGrad no_grad;
  return quantized_weight().data().contiguous();
}

void QuantLinear::set_bypass(bool on) {
  QS_CHECK(mode_ != QuantMode::packed || !on, "QuantLinear: bypass needs the master weight (grid or clipping mode)");
  bypass_ = on;
}

int64_t QuantLinear::weight_bytes() const {
  if (mode_ != QuantMode::packed) return in_ * out_ * 4;
  return static_cast<int64_t>(buffer("qweight").nbytes() + buffer("scale").nbytes() + buffer("zero").nbytes());
}

double QuantLinear::bits_per_parameter() const {
  return 8.0 * static_cast<double>(weight_bytes()) / static_cast<double>(in_ * out_);
}

}  // namespace qs::quant
