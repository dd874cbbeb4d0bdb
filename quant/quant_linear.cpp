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
  weight_ = register_parameter("weight", source.weight.data().to(e::DType::f32).clone(), false);
  if (source.bias.defined()) bias_ = register_parameter("bias", source.bias.data().clone(), false);
  grid_ = minmax_params(weight_.data(), spec_);
}

void QuantLinear::enable_clipping(double init) {
  QS_CHECK(mode_ == QuantMode::fake && !grid_frozen_, "QuantLinear: clipping needs fake mode with an unfrozen grid");
  if (!clip_upper_.defined()) {
    const e::Shape shape{out_, spec_.groups(in_)};
    clip_upper_ = register_parameter("clip_upper", e::full(shape, init));
    clip_lower_ = register_parameter("clip_lower", e::full(shape, init));
  }
  clip_upper_.set_requires_grad(true);
  clip_lower_.set_requires_grad(true);
}

void QuantLinear::freeze_grid() {
  QS_CHECK(mode_ == QuantMode::fake, "QuantLinear: freeze_grid needs fake mode");
  grid_ = clip_upper_.defined() ? lwc_params(weight_.data(), clip_upper_.data(), clip_lower_.data(), spec_)
                                : minmax_params(weight_.data(), spec_);
  if (clip_upper_.defined()) {
    clip_upper_.set_requires_grad(false);
    clip_lower_.set_requires_grad(false);
  }
  set_buffer("scale", grid_.scale);
  set_buffer("zero", grid_.zero);
  grid_frozen_ = true;
}

void QuantLinear::set_grid(const GroupParams& grid) {
  QS_CHECK(mode_ == QuantMode::fake, "QuantLinear: set_grid needs fake mode");
  const e::Shape shape{out_, spec_.groups(in_)};
  QS_CHECK(grid.scale.shape() == shape && grid.zero.shape() == shape,
           "QuantLinear: grid scale {} / zero {} must both be {}", e::describe(grid.scale), e::describe(grid.zero),
           e::describe(e::Tensor(shape, e::DType::f32)));
  if (clip_upper_.defined()) {
    clip_upper_.set_requires_grad(false);
    clip_lower_.set_requires_grad(false);
  }
  grid_ = {grid.scale.to(e::DType::f32).contiguous().clone(), grid.zero.to(e::DType::f32).contiguous().clone()};
  set_buffer("scale", grid_.scale);
  set_buffer("zero", grid_.zero);
  grid_frozen_ = true;
}

void QuantLinear::enable_scale_learning() {
  if (!grid_frozen_) freeze_grid();
  if (!alpha_.defined()) alpha_ = register_parameter("alpha", e::ones(grid_.scale.shape()));
  alpha_.set_requires_grad(true);
}

void QuantLinear::reset_alpha() {
  QS_CHECK(alpha_.defined(), "QuantLinear: no alpha to reset (scale learning is off)");
  e::fill_(alpha_.data(), 1.0);
  alpha_.zero_grad();
}

Var QuantLinear::forward(const Var& x) {
  QS_CHECK(x.size(-1) == in_, "QuantLinear: input {} does not end in in_features = {}", e::describe(x.data()), in_);
  Var y;
  if (mode_ == QuantMode::real) {
    y = forward_real(x);
  } else if (bypass_) {
    y = ag::matmul(x, ag::transpose(weight_, 0, 1));
  } else {
    Var w_hat = grid_frozen_ || !clip_upper_.defined()
                    ? fake_quantize_grid(weight_, grid_, alpha_, spec_)
                    : fake_quantize_lwc(weight_, clip_upper_, clip_lower_, spec_);
    y = ag::matmul(x, ag::transpose(w_hat, 0, 1));
  }
  return bias_.defined() ? y + bias_ : y;
}

Var QuantLinear::forward_real(const Var& x) const {
  const Tensor packed = buffer("qweight"), scale = grid_.scale, zero = grid_.zero;
  const int bits = spec_.bits;
  const int64_t group = spec_.group_size, in = in_;
  const int64_t rows = x.numel() / in_;
  if (bits == 4 && rows <= kMatvecRows && group % 2 == 0 && in % 2 == 0 && !(autograd::grad_enabled() && x.requires_grad())) {
    // Decoding: a fused kernel on the packed codes (memory bound, so the 8x
    // smaller weights are what makes it fast).
    Tensor x2 = x.data().to(e::DType::f32).reshape({rows, in});
    Tensor y = e::matvec_4bit(x2, packed, scale, zero, group);
    e::Shape shape = x.shape();
    shape.back() = out_;
    return Var(y.view(shape));
  }
  if (packed.device().is_cuda()) {
    // On the GPU the batched path dequantizes the whole layer once, then one
    // cuBLAS GEMM (the weights are small next to the activations here).
    Var w(e::dequantize_packed(packed, scale, zero, bits, group, in));
    return ag::matmul(x, ag::transpose(w, 0, 1));
  }
  return dequant_linear(x, in_, out_, [=](int64_t r0, int64_t r1, float* dst) {
    dequantize_packed_rows(packed, scale, zero, bits, group, in, r0, r1, dst);
  }, "quant_linear_real");
}

void QuantLinear::to(e::Device device) {
  nn::Module::to(device);
  if (grid_.scale.defined()) grid_.scale = grid_.scale.to(device);
  if (grid_.zero.defined()) grid_.zero = grid_.zero.to(device);
}

void QuantLinear::to_real() {
  QS_CHECK(mode_ == QuantMode::fake, "QuantLinear: already in real mode");
  if (!grid_frozen_) freeze_grid();
  Tensor codes = quantize(weight_.data(), grid_, spec_, alpha_.defined() ? alpha_.data() : Tensor());
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
  mode_ = QuantMode::real;
}

Tensor QuantLinear::effective_weight() const {
  if (mode_ == QuantMode::real) {
    Tensor w({out_, in_}, e::DType::f32);
    dequantize_packed_rows(buffer("qweight"), grid_.scale, grid_.zero, spec_.bits, spec_.group_size, in_, 0, out_,
                           w.data<float>());
    return w;
  }
  autograd::NoGrad no_grad;
  QuantLinear& self = const_cast<QuantLinear&>(*this);
  Var w = grid_frozen_ || !clip_upper_.defined()
              ? fake_quantize_grid(self.weight_, grid_, alpha_, spec_)
              : fake_quantize_lwc(self.weight_, clip_upper_, clip_lower_, spec_);
  return w.data().contiguous();
}

void QuantLinear::set_bypass(bool on) {
  QS_CHECK(mode_ == QuantMode::fake || !on, "QuantLinear: bypass needs the master weight (fake mode)");
  bypass_ = on;
}

int64_t QuantLinear::weight_bytes() const {
  if (mode_ == QuantMode::fake) return in_ * out_ * 4;
  return static_cast<int64_t>(buffer("qweight").nbytes() + grid_.scale.nbytes() + grid_.zero.nbytes());
}

double QuantLinear::bits_per_parameter() const {
  return 8.0 * static_cast<double>(weight_bytes()) / static_cast<double>(in_ * out_);
}

}  // namespace qs::quant
