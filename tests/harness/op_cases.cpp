#include "harness/op_cases.h"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <cmath>

#include "autograd/functions.h"
#include "engine/packed_codes.h"
#include "support.h"

namespace qs::test {

namespace e = qs::engine;
namespace ag = qs::autograd;
using e::BinaryOp;
using e::Generator;
using e::Op;
using e::ReduceOp;
using e::Shape;
using e::UnaryOp;

Tensors strided_views(const Tensors& xs) {
  Tensors out;
  for (const Tensor& x : xs) {
    if (!e::is_floating(x.dtype()) || x.dim() < 2) {
      out.push_back(x);
      continue;
    }
    out.push_back(x.transpose(-1, -2).contiguous().transpose(-1, -2));
  }
  return out;
}

Tensors with_dtype(const Tensors& xs, DType dtype) {
  Tensors out;
  for (const Tensor& x : xs) out.push_back(x.defined() && e::is_floating(x.dtype()) ? x.to(dtype) : x);
  return out;
}

Tensors on_device(const Tensors& xs, Device device) {
  Tensors out;
  for (const Tensor& x : xs) out.push_back(x.defined() ? x.to(device) : x);
  return out;
}

void check_outputs(const Tensors& got, const Tensors& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("output ", i);
    const Tensor g = got[i].to(Device::cpu()), w = want[i].to(Device::cpu());
    CHECK(g.shape() == w.shape());
    if (e::is_floating(w.dtype())) {
      QS_CHECK_CLOSE(g, w, tol);
    } else {
      CHECK(e::equal(g, w));
    }
  }
}

namespace {

Tensor randn(Generator& g, const Shape& s, DType dt) { return e::randn(s, g, dt); }
Tensor uniform(Generator& g, const Shape& s, DType dt, double lo, double hi) { return e::rand(s, g, dt, lo, hi); }

// Values kept away from the kinks (0) of relu, abs, sign and the rounding
// midpoints of round, so finite differences and f32 vs f64 agree there.
Tensor smooth_randn(Generator& g, const Shape& s, DType dt) {
  // x = k/2 + d with 0.05 <= |d| <= 0.2: never within 0.05 of an integer or a
  // half-integer.
  Tensor k = e::round(e::mul(randn(g, s, dt), e::scalar(2.0, dt)));
  Tensor d = uniform(g, s, dt, 0.05, 0.2);
  Tensor sgn = e::sign(randn(g, s, dt));
  return e::add(e::mul(k, e::scalar(0.5, dt)), e::mul(sgn, d));
}

bool positive_domain(UnaryOp op) { return op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::rsqrt; }

VarFn unary_grad(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return [](auto& v) { return ag::neg(v[0]); };
    case UnaryOp::exp: return [](auto& v) { return ag::exp(v[0]); };
    case UnaryOp::log: return [](auto& v) { return ag::log(v[0]); };
    case UnaryOp::sqrt: return [](auto& v) { return ag::sqrt(v[0]); };
    case UnaryOp::rsqrt: return [](auto& v) { return ag::rsqrt(v[0]); };
    case UnaryOp::tanh: return [](auto& v) { return ag::tanh(v[0]); };
    case UnaryOp::sigmoid: return [](auto& v) { return ag::sigmoid(v[0]); };
    case UnaryOp::relu: return [](auto& v) { return ag::relu(v[0]); };
    case UnaryOp::abs: return [](auto& v) { return ag::abs(v[0]); };
    case UnaryOp::gelu_tanh: return [](auto& v) { return ag::gelu(v[0], e::GeluApprox::tanh); };
    case UnaryOp::gelu_erf: return [](auto& v) { return ag::gelu(v[0], e::GeluApprox::erf); };
    case UnaryOp::silu: return [](auto& v) { return ag::silu(v[0]); };
    case UnaryOp::quick_gelu: return [](auto& v) { return ag::quick_gelu(v[0]); };
    default: return {};  // sign, round: zero derivative; the *_grad kinds are derivatives themselves
  }
}

// The derivative kinds against central differences of their functions.
Tensor derivative_twin(UnaryOp op, const Tensor& x) {
  const UnaryOp f = op == UnaryOp::gelu_tanh_grad  ? UnaryOp::gelu_tanh
                    : op == UnaryOp::gelu_erf_grad ? UnaryOp::gelu_erf
                    : op == UnaryOp::silu_grad     ? UnaryOp::silu
                                                   : UnaryOp::quick_gelu;
  const double h = 1e-5;
  return e::div(e::sub(e::unary(f, e::add(x, e::scalar(h, x.dtype()))), e::unary(f, e::sub(x, e::scalar(h, x.dtype())))),
                e::scalar(2 * h, x.dtype()));
}

VarFn binary_grad(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return [](auto& v) { return ag::add(v[0], v[1]); };
    case BinaryOp::sub: return [](auto& v) { return ag::sub(v[0], v[1]); };
    case BinaryOp::mul: return [](auto& v) { return ag::mul(v[0], v[1]); };
    case BinaryOp::div: return [](auto& v) { return ag::div(v[0], v[1]); };
    case BinaryOp::pow: return [](auto& v) { return ag::pow(v[0], v[1]); };
    default: return {};  // maximum/minimum (no autograd function), comparisons
  }
}

bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

Tensor group_expand(const Tensor& grid, int64_t in, int64_t group) {
  std::vector<int64_t> col(in);
  for (int64_t j = 0; j < in; ++j) col[j] = j / group;
  return e::index_select(grid, 1, e::from_vector(col));
}

// Codes u8 (out, in) < 2^bits and their packed rows (engine/packed_codes.h).
std::pair<Tensor, Tensor> random_codes(Generator& g, int64_t out, int64_t in, int bits) {
  Tensor codes = e::round(uniform(g, {out, in}, DType::f32, 0.0, double((1 << bits) - 1))).to(DType::u8);
  const int64_t rb = e::packing::row_bytes(in, bits);
  Tensor packed = e::zeros({out, rb}, DType::u8);
  const uint8_t* c = codes.data<uint8_t>();
  uint8_t* p = packed.data<uint8_t>();
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t j = 0; j < in; ++j) e::packing::write_code(p + r * rb, j, bits, c[r * in + j]);
  }
  return {codes, packed};
}

std::vector<OpCase> build() {
  std::vector<OpCase> cases;
  // ------------------------------------------------------------ elementwise
  for (int k = 0; k < static_cast<int>(e::op_table::unary_count); ++k) {
    const auto op = static_cast<UnaryOp>(k);
    OpCase c{.op = Op::unary, .label = fmt::format("unary {}", e::op_name(op))};
    c.inputs = [op](Generator& g, DType dt, int64_t n) {
      Tensor x = smooth_randn(g, {5 * n, 7}, dt);
      return Tensors{positive_domain(op) ? e::add(e::abs(x), e::scalar(0.2, dt)) : x};
    };
    c.run = [op](const Tensors& in, Device) { return Tensors{e::unary(op, in[0])}; };
    if (op == UnaryOp::gelu_tanh_grad || op == UnaryOp::gelu_erf_grad || op == UnaryOp::silu_grad ||
        op == UnaryOp::quick_gelu_grad) {
      c.twin = [op](const Tensors& in) { return Tensors{derivative_twin(op, in[0])}; };
      c.tol = 1e-5;
    }
    c.grad = unary_grad(op);
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::clamp, .label = "clamp"};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{randn(g, {6 * n, 5}, dt)}; };
    c.run = [](const Tensors& in, Device) { return Tensors{e::clamp(in[0], -0.5, 0.25)}; };
    c.twin = [](const Tensors& in) { return Tensors{e::minimum(e::maximum(in[0], e::scalar(-0.5, in[0].dtype())), e::scalar(0.25, in[0].dtype()))}; };
    c.grad = [](auto& v) { return ag::clamp(v[0], -0.5, 0.25); };
    cases.push_back(c);
  }
  for (int k = 0; k < static_cast<int>(e::op_table::binary_count); ++k) {
    const auto op = static_cast<BinaryOp>(k);
    OpCase c{.op = Op::binary, .label = fmt::format("binary {}", e::op_name(op))};
    c.inputs = [op](Generator& g, DType dt, int64_t n) {
      // Broadcast (4, 1, 6) with (5, 6); comparisons on values with ties.
      Tensor a = randn(g, {4 * n, 1, 6}, dt), b = randn(g, {5, 6}, dt);
      if (is_comparison(op)) return Tensors{e::round(a), e::round(b)};
      if (op == BinaryOp::pow) a = e::add(e::abs(a), e::scalar(0.5, dt));
      if (op == BinaryOp::div) b = e::add(e::abs(b), e::scalar(0.5, dt));
      if (op == BinaryOp::maximum || op == BinaryOp::minimum) b = e::add(b, e::scalar(0.01, dt));
      return Tensors{a, b};
    };
    c.run = [op](const Tensors& in, Device) { return Tensors{e::binary(op, in[0], in[1])}; };
    c.grad = binary_grad(op);
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::where, .label = "where"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      return Tensors{e::gt(randn(g, {4 * n, 5, 1}, DType::f32), 0.0), randn(g, {4 * n, 1, 6}, dt),
                     randn(g, {5, 6}, dt)};
    };
    c.run = [](const Tensors& in, Device) { return Tensors{e::where(in[0], in[1], in[2])}; };
    c.twin = [](const Tensors& in) {
      Tensor m = in[0].to(in[1].dtype());
      return Tensors{e::add(e::mul(m, in[1]), e::mul(e::sub(e::scalar(1.0, m.dtype()), m), in[2]))};
    };
    c.grad = [](auto& v) { return ag::where(v[0].data(), v[1], v[2]); };
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::swiglu, .label = "swiglu"};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{randn(g, {6 * n, 8}, dt), randn(g, {6 * n, 8}, dt)}; };
    c.run = [](const Tensors& in, Device) { return Tensors{e::swiglu(in[0], in[1])}; };
    c.twin = [](const Tensors& in) { return Tensors{e::mul(e::silu(in[0]), in[1])}; };
    c.grad = [](auto& v) { return ag::swiglu(v[0], v[1]); };
    cases.push_back(c);
  }
  // ------------------------------------------------------------------- copy
  for (DType to : {DType::f32, DType::f64, DType::bf16, DType::i64}) {
    OpCase c{.op = Op::copy_, .label = fmt::format("copy_ into {} (strided destination)", e::dtype_name(to))};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{e::mul(randn(g, {5 * n, 7}, dt), e::scalar(8.0, dt))}; };
    c.run = [to](const Tensors& in, Device) {
      Tensor dst = e::zeros({in[0].size(1), in[0].size(0)}, to, in[0].device()).t();
      e::copy_(dst, in[0]);
      return Tensors{dst.to(DType::f64)};
    };
    // bf16 keeps 8 significant bits; integers truncate.
    c.tol = to == DType::bf16 ? 1e-2 : 1e-5;
    if (to == DType::i64) c.dtypes = {DType::f64};
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::fill_, .label = "fill_ (strided destination)"};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{randn(g, {4 * n, 6}, dt)}; };
    c.run = [](const Tensors& in, Device) {
      Tensor t = in[0].clone().t();
      e::fill_(t, 2.5);
      return Tensors{t};
    };
    c.twin = [](const Tensors& in) { return Tensors{e::full({in[0].size(1), in[0].size(0)}, 2.5, DType::f64)}; };
    cases.push_back(c);
  }
  // ----------------------------------------------------------------- random
  for (Op op : {Op::rand, Op::randn}) {
    OpCase c{.op = op, .label = e::op_name(op)};
    c.inputs = [](Generator&, DType dt, int64_t n) { return Tensors{e::zeros({2000 * n}, dt)}; };
    c.run = [op](const Tensors& in, Device dev) {
      Generator g(17, 5);
      const int64_t n = in[0].numel();
      return Tensors{op == Op::rand ? e::rand({n}, g, in[0].dtype(), -1.0, 3.0, dev)
                                    : e::randn({n}, g, in[0].dtype(), 2.0, 0.5, dev)};
    };
    c.property = [op](const Tensors&, const Tensors& out) {
      const Tensor x = out[0].to(DType::f64).to(Device::cpu());
      const double mean = e::mean(x).item<double>(), sd = std::sqrt(e::var(x).item<double>());
      if (op == Op::rand) {
        CHECK(e::min(x).item<double>() >= -1.0);
        CHECK(e::max(x).item<double>() < 3.0);
        CHECK(std::abs(mean - 1.0) < 0.1);
        CHECK(std::abs(sd - 4.0 / std::sqrt(12.0)) < 0.1);
      } else {
        CHECK(std::abs(mean - 2.0) < 0.05);
        CHECK(std::abs(sd - 0.5) < 0.05);
      }
    };
    c.f64_reference = false;
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::dropout, .label = "dropout"};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{randn(g, {16 * n, 9}, dt)}; };
    c.run = [](const Tensors& in, Device) {
      Tensor keep;
      Tensor y = e::dropout(in[0], 0.3, 11, 4, &keep);
      return Tensors{y, keep};
    };
    c.property = [](const Tensors& in, const Tensors& out) {
      const double kept = e::mean(out[1].to(DType::f64)).item<double>();
      CHECK(std::abs(kept - 0.7) < 0.15);
      // Kept elements scaled by 1 / (1 - p), the others zero.
      QS_CHECK_CLOSE(out[0], e::div(e::mul(in[0], out[1].to(in[0].dtype())), e::scalar(0.7, in[0].dtype())), 1e-6);
    };
    c.grad = [](auto& v) {
      Generator g(3);  // the same mask on every call of the gradient check
      return ag::dropout(v[0], 0.3, g);
    };
    c.f64_reference = false;
    cases.push_back(c);
  }
  // ----------------------------------------------------------------- reduce
  for (int k = 0; k < static_cast<int>(e::op_table::reduce_count); ++k) {
    const auto op = static_cast<ReduceOp>(k);
    OpCase c{.op = Op::reduce, .label = fmt::format("reduce {} over the middle dim", e::op_name(op))};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{randn(g, {4, 5 * n, 6}, dt)}; };
    c.run = [op](const Tensors& in, Device) {
      switch (op) {
        case ReduceOp::sum: return Tensors{e::sum(in[0], 1)};
        case ReduceOp::mean: return Tensors{e::mean(in[0], 1)};
        case ReduceOp::max: { auto r = e::max(in[0], 1); return Tensors{r.values, r.indices}; }
        case ReduceOp::min: { auto r = e::min(in[0], 1); return Tensors{r.values, r.indices}; }
        default: return Tensors{e::var(in[0], 1)};
      }
    };
    switch (op) {
      case ReduceOp::sum: c.grad = [](auto& v) { return ag::sum(v[0], 1); }; break;
      case ReduceOp::mean: c.grad = [](auto& v) { return ag::mean(v[0], 1); }; break;
      case ReduceOp::max: c.grad = [](auto& v) { return ag::max(v[0], 1); }; break;
      case ReduceOp::var: c.grad = [](auto& v) { return ag::var(v[0], 1); }; break;
      default: break;
    }
    cases.push_back(c);
  }
  // ----------------------------------------------------------------- linalg
  {
    OpCase c{.op = Op::matmul, .label = "matmul batched, broadcast"};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{randn(g, {2, 5 * n, 7}, dt), randn(g, {7, 12}, dt)}; };
    c.run = [](const Tensors& in, Device) { return Tensors{e::matmul(in[0], in[1])}; };
    c.twin = [](const Tensors& in) {  // sum_k a[b, i, k] b[k, j]
      return Tensors{e::sum(e::mul(in[0].unsqueeze(-1), in[1].unsqueeze(0).unsqueeze(0)), 2)};
    };
    c.grad = [](auto& v) { return ag::matmul(v[0], v[1]); };
    cases.push_back(c);
  }
  // ---------------------------------------------------------------- softmax
  for (bool log : {false, true}) {
    OpCase c{.op = log ? Op::log_softmax : Op::softmax, .label = log ? "log_softmax" : "softmax"};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{e::mul(randn(g, {3, 4 * n, 9}, dt), e::scalar(3.0, dt))}; };
    c.run = [log](const Tensors& in, Device) { return Tensors{log ? e::log_softmax(in[0]) : e::softmax(in[0])}; };
    c.twin = [log](const Tensors& in) {
      Tensor z = e::exp(e::sub(in[0], e::max(in[0], -1, true).values));
      Tensor p = e::div(z, e::sum(z, -1, true));
      return Tensors{log ? e::log(p) : p};
    };
    c.grad = [log](auto& v) { return log ? ag::log_softmax(v[0]) : ag::softmax(v[0]); };
    cases.push_back(c);
  }
  // ------------------------------------------------------------------- norm
  {
    OpCase c{.op = Op::layer_norm, .label = "layer_norm with weight and bias"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      return Tensors{randn(g, {3, 4 * n, 10}, dt), randn(g, {10}, dt), randn(g, {10}, dt)};
    };
    c.run = [](const Tensors& in, Device) { return Tensors{e::layer_norm(in[0], in[1], in[2], 1e-5)}; };
    c.twin = [](const Tensors& in) {
      Tensor mu = e::mean(in[0], -1, true);
      Tensor var = e::var(in[0], -1, 0, true);
      Tensor xhat = e::div(e::sub(in[0], mu), e::sqrt(e::add(var, e::scalar(1e-5, var.dtype()))));
      return Tensors{e::add(e::mul(xhat, in[1]), in[2])};
    };
    c.grad = [](auto& v) { return ag::layer_norm(v[0], v[1], v[2], 1e-5); };
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::rms_norm, .label = "rms_norm"};
    c.inputs = [](Generator& g, DType dt, int64_t n) { return Tensors{randn(g, {3, 4 * n, 10}, dt), randn(g, {10}, dt)}; };
    c.run = [](const Tensors& in, Device) { return Tensors{e::rms_norm(in[0], in[1], 1e-6)}; };
    c.twin = [](const Tensors& in) {
      Tensor ms = e::mean(e::mul(in[0], in[0]), -1, true);
      return Tensors{e::mul(e::mul(in[0], e::rsqrt(e::add(ms, e::scalar(1e-6, ms.dtype())))), in[1])};
    };
    c.grad = [](auto& v) { return ag::rms_norm(v[0], v[1], 1e-6); };
    cases.push_back(c);
  }
  // ------------------------------------------------------------------- rope
  {
    OpCase c{.op = Op::rope, .label = "rope (B, H, T, D)"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      return Tensors{randn(g, {2, 3, 5 * n, 8}, dt), e::arange(3, 3 + 5 * n)};
    };
    c.run = [](const Tensors& in, Device) { return Tensors{e::rope(in[0], in[1], 500.0, false, 0.25)}; };
    c.twin = [](const Tensors& in) {
      // Pairs (x[i], x[i + D/2]) (LLaMA's half split) of each position rotated
      // by pos * scale * theta^(-2i / D), here with linear scaling by 4.
      const Tensor& x = in[0];
      const int64_t d = x.size(-1), t = x.size(-2), half = d / 2;
      std::vector<double> cs, sn;
      const auto pos = e::to_vector<int64_t>(in[1]);
      for (int64_t p = 0; p < t; ++p) {
        for (int64_t i = 0; i < half; ++i) {
          const double a = 0.25 * static_cast<double>(pos[p]) * std::pow(500.0, -2.0 * static_cast<double>(i) / static_cast<double>(d));
          cs.push_back(std::cos(a));
          sn.push_back(std::sin(a));
        }
      }
      Tensor cosv = e::from_vector(cs, {t, half}).to(x.dtype()), sinv = e::from_vector(sn, {t, half}).to(x.dtype());
      Tensor x0 = x.slice(-1, 0, half), x1 = x.slice(-1, half, d);
      return Tensors{e::concat({e::sub(e::mul(x0, cosv), e::mul(x1, sinv)), e::add(e::mul(x0, sinv), e::mul(x1, cosv))}, -1)};
    };
    c.grad = [](auto& v) { return ag::rope(v[0], v[1].data(), 500.0, 0.25); };
    cases.push_back(c);
  }
  // ------------------------------------------------------------------- loss
  {
    OpCase c{.op = Op::cross_entropy, .label = "cross_entropy with an ignored target"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      std::vector<int64_t> t;
      for (int64_t i = 0; i < 7 * n; ++i) t.push_back(i % 3 == 1 ? -100 : (i * 5) % 11);
      return Tensors{e::mul(randn(g, {7 * n, 11}, dt), e::scalar(2.0, dt)), e::from_vector(t)};
    };
    c.run = [](const Tensors& in, Device) { return Tensors{e::cross_entropy(in[0], in[1])}; };
    c.twin = [](const Tensors& in) {
      const auto t = e::to_vector<int64_t>(in[1]);
      Tensor lp = e::log_softmax(in[0].to(DType::f64));
      double total = 0.0;
      int64_t count = 0;
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] == -100) continue;
        total -= lp.select(0, static_cast<int64_t>(i)).select(0, t[i]).item<double>();
        ++count;
      }
      return Tensors{e::scalar(total / static_cast<double>(count), DType::f64)};
    };
    c.grad = [](auto& v) { return ag::cross_entropy(v[0], v[1].data()); };
    cases.push_back(c);
  }
  // ------------------------------------------------------------------ index
  {
    OpCase c{.op = Op::index_select, .label = "index_select with repeated indices"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      return Tensors{randn(g, {6 * n, 5}, dt), e::from_vector<int64_t>({4, 0, 4, 2, 5})};
    };
    c.run = [](const Tensors& in, Device) { return Tensors{e::index_select(in[0], 0, in[1]), e::index_select(in[0], 1, in[1].slice(0, 1, 4))}; };
    c.grad = [](auto& v) { return ag::index_select(v[0], 0, v[1].data()); };
    cases.push_back(c);
  }
  // -------------------------------------------------------------- attention
  for (bool causal : {false, true}) {
    OpCase c{.op = Op::attention, .label = causal ? "attention causal, padded keys" : "attention, T != S"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      Tensor pad = e::zeros({2, 6 * n}, DType::u8);
      e::fill_(pad.slice(1, 0, 1), 1.0);  // the first key of every sequence is padding
      return Tensors{randn(g, {2, 2, 4 * n, 8}, dt), randn(g, {2, 2, 6 * n, 8}, dt), randn(g, {2, 2, 6 * n, 8}, dt), pad};
    };
    c.run = [causal](const Tensors& in, Device) {
      auto f = e::attention_forward(in[0], in[1], in[2], 0.35, causal, in[3]);
      return Tensors{f.out, f.lse};
    };
    c.twin = [causal](const Tensors& in) {
      const int64_t t = in[0].size(2), s = in[1].size(2);
      Tensor scores = e::mul(e::matmul(in[0], in[1].transpose(-1, -2)), e::scalar(0.35, in[0].dtype()));
      std::vector<double> mask(static_cast<std::size_t>(2 * t * s));
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t i = 0; i < t; ++i)
          for (int64_t j = 0; j < s; ++j) mask[(b * t + i) * s + j] = (j == 0 || (causal && j > i + s - t)) ? -1e30 : 0.0;
      Tensor m = e::from_vector(mask, {2, 1, t, s}).to(scores.dtype());
      scores = e::add(scores, m);
      Tensor lse = e::log(e::sum(e::exp(e::sub(scores, e::max(scores, -1, true).values)), -1));
      lse = e::add(lse, e::max(scores, -1).values);
      return Tensors{e::matmul(e::softmax(scores), in[2]), lse};
    };
    c.grad = [causal](auto& v) { return ag::attention(v[0], v[1], v[2], 0.35, causal, v[3].data()); };
    cases.push_back(c);
  }
  // ----------------------------------------------------------------- packed
  for (int bits : {2, 3, 4, 8}) {
    OpCase c{.op = Op::dequantize_packed, .label = fmt::format("dequantize_packed {}-bit", bits)};
    c.inputs = [bits](Generator& g, DType, int64_t n) {
      const int64_t out = 5 * n, in = 37;
      auto [codes, packed] = random_codes(g, out, in, bits);
      return Tensors{packed, uniform(g, {out, 5}, DType::f32, 0.01, 0.1),
                     e::round(uniform(g, {out, 5}, DType::f32, 0.0, double((1 << bits) - 1))), codes};
    };
    c.run = [bits](const Tensors& in, Device) { return Tensors{e::dequantize_packed(in[0], in[1], in[2], bits, 8, 37)}; };
    c.twin = [](const Tensors& in) {
      return Tensors{e::mul(e::sub(in[3].to(DType::f64), group_expand(in[2], 37, 8)), group_expand(in[1], 37, 8))};
    };
    c.dtypes = {DType::f32};
    c.strided = false;
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::matvec_4bit, .label = "matvec_4bit, 3 rows"};
    c.inputs = [](Generator& g, DType, int64_t n) {
      const int64_t out = 9 * n, in = 64;
      auto [codes, packed] = random_codes(g, out, in, 4);
      return Tensors{randn(g, {3, in}, DType::f32), packed, uniform(g, {out, 4}, DType::f32, 0.01, 0.1),
                     e::round(uniform(g, {out, 4}, DType::f32, 0.0, 15.0)), codes};
    };
    c.run = [](const Tensors& in, Device) { return Tensors{e::matvec_4bit(in[0], in[1], in[2], in[3], 16)}; };
    c.twin = [](const Tensors& in) {
      Tensor w = e::mul(e::sub(in[4].to(DType::f64), group_expand(in[3], 64, 16)), group_expand(in[2], 64, 16));
      return Tensors{e::matmul(in[0].to(DType::f64), w.t())};
    };
    c.dtypes = {DType::f32};
    c.strided = false;
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::fake_quantize_grid, .label = "fake_quantize_grid with alpha (STE)"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      return Tensors{randn(g, {4 * n, 20}, dt), uniform(g, {4 * n, 3}, DType::f32, 0.2, 0.4),
                     e::round(uniform(g, {4 * n, 3}, DType::f32, 5.0, 10.0)), uniform(g, {4 * n, 3}, dt, 0.8, 1.2)};
    };
    c.run = [](const Tensors& in, Device) {
      return Tensors{e::fake_quantize_grid(in[0].to(DType::f32), in[1], in[2], in[3].to(DType::f32), 15.0, 8)};
    };
    c.twin = [](const Tensors& in) {
      Tensor s = group_expand(in[1], 20, 8).to(DType::f64), z = group_expand(in[2], 20, 8).to(DType::f64);
      Tensor step = e::mul(s, group_expand(in[3], 20, 8).to(DType::f64));
      Tensor code = e::clamp(e::add(e::round(e::div(in[0].to(DType::f64), step)), z), 0.0, 15.0);
      return Tensors{e::mul(e::sub(code, z), s)};
    };
    // Straight-through: the gradient is the composite's (round passes dy), not the derivative.
    c.grad = [](auto& v) { return ag::fake_quantize_grid(v[0], v[1].data(), v[2].data(), v[3], 15.0, 8); };
    c.grad_twin = [](auto& v) {
      ag::Var s(group_expand(v[1].data(), 20, 8).to(v[0].data().dtype())), z(group_expand(v[2].data(), 20, 8).to(v[0].data().dtype()));
      ag::Var a = ag::index_select(v[3], 1, e::from_vector<int64_t>({0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2}));
      ag::Var code = ag::clamp(ag::round_ste(v[0] / (s * a)) + z, 0.0, 15.0);
      return (code - z) * s;
    };
    c.dtypes = {DType::f32};
    c.grad_dtype = DType::f32;
    c.tol = 1e-5;
    cases.push_back(c);
  }
  // ------------------------------------------------------------------ optim
  {
    OpCase c{.op = Op::adamw_step_, .label = "adamw_step_ (step 3)"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      return Tensors{randn(g, {5 * n, 6}, dt), randn(g, {5 * n, 6}, dt), randn(g, {5 * n, 6}, dt),
                     uniform(g, {5 * n, 6}, dt, 0.1, 1.0)};
    };
    c.run = [](const Tensors& in, Device) {
      Tensor p = in[0].clone(), m = in[2].clone(), v = in[3].clone();
      e::adamw_step_(p, in[1], m, v, 1e-2, 0.9, 0.99, 1e-8, 0.1, 3);
      return Tensors{p, m, v};
    };
    c.twin = [](const Tensors& in) {
      auto s = [&](double x) { return e::scalar(x, in[0].dtype()); };
      Tensor m = e::add(e::mul(in[2], s(0.9)), e::mul(in[1], s(0.1)));
      Tensor v = e::add(e::mul(in[3], s(0.99)), e::mul(e::mul(in[1], in[1]), s(0.01)));
      Tensor mhat = e::div(m, s(1 - std::pow(0.9, 3))), vhat = e::div(v, s(1 - std::pow(0.99, 3)));
      Tensor p = e::mul(in[0], s(1 - 1e-2 * 0.1));
      p = e::sub(p, e::mul(e::div(mhat, e::add(e::sqrt(vhat), s(1e-8))), s(1e-2)));
      return Tensors{p, m, v};
    };
    c.strided = false;
    cases.push_back(c);
  }
  {
    OpCase c{.op = Op::sgd_step_, .label = "sgd_step_ with momentum and weight decay"};
    c.inputs = [](Generator& g, DType dt, int64_t n) {
      return Tensors{randn(g, {5 * n, 6}, dt), randn(g, {5 * n, 6}, dt), randn(g, {5 * n, 6}, dt)};
    };
    c.run = [](const Tensors& in, Device) {
      Tensor p = in[0].clone(), b = in[2].clone();
      e::sgd_step_(p, in[1], b, 0.1, 0.9, 0.01);
      return Tensors{p, b};
    };
    c.twin = [](const Tensors& in) {
      auto s = [&](double x) { return e::scalar(x, in[0].dtype()); };
      Tensor grad = e::add(in[1], e::mul(in[0], s(0.01)));
      Tensor b = e::add(e::mul(in[2], s(0.9)), grad);
      return Tensors{e::sub(in[0], e::mul(b, s(0.1))), b};
    };
    c.strided = false;
    cases.push_back(c);
  }
  return cases;
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = build();
  return cases;
}

}  // namespace qs::test
