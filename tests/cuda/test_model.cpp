// Gradients through autograd, and whole training steps, on GPU vs CPU.
#include "autograd/functions.h"
#include "cuda_support.h"
#include "nn/attention.h"
#include "nn/optim/optimizer.h"
#include "quant/nf4_linear.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"
#include "vision/default_llava.h"

using namespace qs::engine;
using qs::test::cpu;
using qs::test::gpu;
using qs::test::have_gpu;
namespace ag = qs::autograd;
using ag::Var;

namespace {

Tensor rnd(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, g);
}

// A function that runs every differentiable op family once.
Var composite(const Var& x, const Var& w, const Var& table, const Var& gamma) {
  Tensor ids = from_vector<int64_t>({1, 4, 4, 0, 2, 3}, {2, 3});
  Var emb = ag::embedding(table, ids);                               // (2, 3, 8)
  Var h = ag::matmul(ag::add(x, emb), w);                           // (2, 3, 8)
  h = ag::layer_norm(h, gamma, Var(), 1e-5);
  h = ag::gelu(h);
  h = ag::rms_norm(ag::silu(h), gamma);
  Var q = ag::reshape(h, {2, 3, 2, 4});
  q = ag::rope(ag::transpose(q, 1, 2), arange(0, 3));               // (2, 2, 3, 4)
  Var scores = ag::matmul(q, ag::transpose(q, -1, -2));
  Tensor causal = gt(arange(0, 3).view({1, 3}), arange(0, 3).view({3, 1}));
  Var attn = ag::softmax(ag::masked_fill(scores, causal.to(scores.data().device()), -INFINITY));
  Var out = ag::matmul(attn, q);
  Var flat = ag::reshape(ag::transpose(out, 1, 2), {6, 8});
  flat = ag::concat({flat, ag::slice(flat, 1, 0, 3)}, 1);           // (6, 11)
  flat = ag::index_select(flat, 0, from_vector<int64_t>({5, 0, 0, 3, 2, 1}));
  Var loss = ag::cross_entropy(flat, from_vector<int64_t>({1, 10, -100, 3, 7, 0}));
  return ag::add(loss, ag::mul(ag::sum(ag::max(ag::exp(ag::mul(flat, 0.1)), 1)), 0.01));
}

}  // namespace

TEST_CASE("cuda: gradients through every differentiable op family match the CPU") {
  if (!have_gpu()) return;
  Tensor x0 = rnd({2, 3, 8}, 1), w0 = rnd({8, 8}, 2), t0 = rnd({5, 8}, 3), g0 = rnd({8}, 4);
  auto run = [&](Device dev) {
    Var x(x0.to(dev), true), w(w0.to(dev), true), table(t0.to(dev), true), gamma(g0.to(dev), true);
    Var loss = composite(x, w, table, gamma);
    loss.backward();
    return std::vector<Tensor>{loss.data(), x.grad(), w.grad(), table.grad(), gamma.grad()};
  };
  std::vector<Tensor> c = run(Device::cpu()), g = run(Device::cuda());
  const char* names[] = {"loss", "dx", "dw", "dtable", "dgamma"};
  for (std::size_t i = 0; i < c.size(); ++i) {
    INFO(names[i]);
    QS_CHECK_DEVICES(g[i], c[i], 1e-5);
  }
}

namespace {

// Two AdamW steps of the default model on one small batch; returns the losses.
std::vector<double> train_steps(Device dev, bool qslaw) {
  qs::vision::LlavaSizes sizes = qs::vision::default_llava_sizes();
  auto model = qs::vision::make_llava(sizes);
  if (qslaw) {
    // Fake 4-bit group-64 LLM with learnable group scales, as QSLAW trains it.
    qs::quant::QuantSpec spec;
    spec.bits = 4;
    spec.group_size = 64;
    auto all = [](const std::string&) { return true; };
    for (const std::string& path : qs::quant::quantize_linears(model->llm(), spec, all)) {
      auto& q = dynamic_cast<qs::quant::QuantLinear&>(model->llm().submodule(path));
      q.enable_scale_learning();
    }
  }
  model->to(dev);
  for (auto& [name, p] : model->vision().named_parameters()) p.set_requires_grad(false);
  std::vector<std::pair<std::string, Var>> trainable;
  for (auto& [name, p] : model->named_parameters()) {
    if (p.requires_grad()) trainable.emplace_back(name, p);
  }
  qs::nn::AdamW opt({qs::nn::ParamGroup{"all", trainable, 1e-3, 0.0}});
  qs::vision::SyntheticBatch batch = qs::vision::synthetic_batch(sizes, 2, 64, 7, dev);
  std::vector<double> losses;
  for (int step = 0; step < 2; ++step) {
    Var logits = model->forward(batch.ids, batch.images).logits;
    Var loss = ag::cross_entropy(ag::reshape(logits, {-1, sizes.llm.vocab_size}), batch.targets);
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.data().item<double>());
  }
  return losses;
}

}  // namespace

TEST_CASE("cuda: training steps of the default multimodal model give the CPU's loss (f32)") {
  if (!have_gpu()) return;
  for (bool qslaw : {false, true}) {
    const char* mode = qslaw ? "qslaw (fake 4-bit LLM, learned scales)" : "full precision, all trainable";
    INFO(mode);
    std::vector<double> c = train_steps(Device::cpu(), qslaw), g = train_steps(Device::cuda(), qslaw);
    for (std::size_t i = 0; i < c.size(); ++i) {
      INFO("step ", i, ": cpu ", c[i], " gpu ", g[i]);
      CHECK(std::abs(g[i] - c[i]) <= 1e-4 * std::abs(c[i]));
    }
  }
}

TEST_CASE("cuda: real 2/3/4/8-bit QuantLinears decode and run batches on the GPU like on the CPU") {
  if (!have_gpu()) return;
  for (int bits : {2, 3, 4, 8}) {
    Generator gen(5);
    qs::nn::Linear source(256, 96, true, gen, 0.05);
    qs::quant::QuantSpec spec;
    spec.bits = bits;
    spec.group_size = 64;
    qs::quant::QuantLinear q(source, spec);
    q.to_real();
    Tensor x1 = rnd({1, 1, 256}, 31), xb = rnd({4, 5, 256}, 32);
    ag::NoGrad no_grad;
    Tensor y1 = q.forward(Var(x1)).data(), yb = q.forward(Var(xb)).data();
    q.to(Device::cuda());
    INFO("bits ", bits);
    QS_CHECK_DEVICES(q.forward(Var(gpu(x1))).data(), y1, 1e-5);  // 4-bit: the fused matvec
    QS_CHECK_DEVICES(q.forward(Var(gpu(xb))).data(), yb, 1e-5);  // dequantize + GEMM
  }
}

TEST_CASE("cuda: under bf16 autocast a training step stays f32 and close to the f32 step") {
  if (!have_gpu()) return;
  Tensor x0 = rnd({4, 16, 64}, 40), w0 = rnd({64, 32}, 41) * 0.1;
  auto step = [&](bool autocast) {
    ag::Autocast guard(autocast);
    Var x(gpu(x0), true), w(gpu(w0), true);
    Var loss = ag::mean(ag::mul(ag::matmul(x, w), ag::matmul(x, w)));
    loss.backward();
    CHECK(loss.data().dtype() == DType::f32);
    CHECK(w.grad().dtype() == DType::f32);
    return std::vector<Tensor>{loss.data(), x.grad(), w.grad()};
  };
  std::vector<Tensor> f32 = step(false), bf16 = step(true);
  for (std::size_t i = 0; i < f32.size(); ++i) {
    INFO("output ", i);
    CHECK(max_abs_diff(cpu(bf16[i]), cpu(f32[i])) <= 2e-2 * (1.0 + max(abs(cpu(f32[i]))).item<double>()));
    CHECK(max_abs_diff(cpu(bf16[i]), cpu(f32[i])) > 0.0);  // bf16 really ran
  }
}

TEST_CASE("cuda: both attention kernels on the GPU match the CPU, with padding and a KV cache") {
  if (!have_gpu()) return;
  for (auto kernel : {qs::nn::AttentionConfig::Kernel::unfused, qs::nn::AttentionConfig::Kernel::fused}) {
    qs::nn::AttentionConfig c;
    c.dim = 32;
    c.n_heads = 2;
    c.kernel = kernel;
    Generator g1(3), g2(3);
    qs::nn::InitConfig init;
    qs::nn::Attention on_cpu(c, g1, init), on_gpu(c, g2, init);
    on_gpu.to(Device::cuda());
    Tensor x = rnd({2, 6, 32}, 60);
    Tensor pad = from_vector<uint8_t>({0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0}, {2, 6});
    const char* name = kernel == qs::nn::AttentionConfig::Kernel::fused ? "fused" : "unfused";
    INFO(name);
    QS_CHECK_DEVICES(on_gpu.forward(Var(gpu(x)), arange(0, 6), nullptr, pad).data(),
                     on_cpu.forward(Var(x), arange(0, 6), nullptr, pad).data(), 1e-5);
    qs::nn::KVCache cc, cg;
    on_cpu.forward(Var(x.slice(1, 0, 5)), arange(0, 5), &cc);
    on_gpu.forward(Var(gpu(x.slice(1, 0, 5))), gpu(arange(0, 5)), &cg);  // positions on the GPU too
    QS_CHECK_DEVICES(on_gpu.forward(Var(gpu(x.slice(1, 5, 6))), arange(5, 6), &cg).data(),
                     on_cpu.forward(Var(x.slice(1, 5, 6)), arange(5, 6), &cc).data(), 1e-5);
  }
}

TEST_CASE("cuda: an NF4 layer (the QLoRA base) gives the CPU's output on the GPU") {
  if (!have_gpu()) return;
  Generator gen(8);
  qs::nn::Linear source(128, 48, true, gen, 0.05);
  qs::quant::Nf4Linear q(source, 64, true);
  Tensor x = rnd({3, 4, 128}, 33);
  Tensor expect = q.forward(Var(x)).data();
  q.to(Device::cuda());
  QS_CHECK_DEVICES(q.forward(Var(gpu(x))).data(), expect, 1e-5);
  q.to(Device::cpu());
  QS_CHECK_CLOSE(q.forward(Var(x)).data(), expect, 0.0);
}

TEST_CASE("cuda: optimizer state saved on the CPU resumes onto GPU parameters") {
  if (!have_gpu()) return;
  auto make = [](Device dev) {
    Var p(rnd({5, 3}, 70).to(dev), true);
    return p;
  };
  Var pc = make(Device::cpu()), pg = make(Device::cuda());
  qs::nn::AdamW oc({qs::nn::ParamGroup{"g", {{"w", pc}}, 0.1, 0.0}}), og({qs::nn::ParamGroup{"g", {{"w", pg}}, 0.1, 0.0}});
  pc.set_grad(rnd({5, 3}, 71));
  oc.step();
  og.load_state_dict(oc.state_dict());  // as a checkpoint resume does, state on the CPU
  pg.set_data(gpu(pc.data()));
  const Tensor g = rnd({5, 3}, 72);
  pc.set_grad(g);
  pg.set_grad(gpu(g));
  oc.step();
  og.step();
  QS_CHECK_DEVICES(pg.data(), pc.data(), 1e-6);
}

TEST_CASE("cuda: a QuantLinear's grid moves with it: a device round trip leaves the forward identical") {
  if (!qs::test::have_gpu()) return;
  Generator gen(5);
  qs::nn::Linear lin(48, 6, true, gen, 0.5);
  for (bool packed : {false, true}) {
    INFO("packed ", packed);
    qs::quant::QuantLinear q(lin, qs::quant::QuantSpec{3, 16, false});
    q.enable_clipping(0.5);
    q.freeze_grid();
    q.enable_scale_learning();
    copy_(q.alpha().data(), rand(q.alpha().shape(), gen, DType::f32, 0.8, 1.2));
    if (packed) q.to_real();
    const Tensor x = randn({5, 48}, gen);
    const Tensor y = q.forward(qs::autograd::Var(x)).data().clone();
    q.to(Device::cuda());
    CHECK(q.grid().scale.device().is_cuda());
    QS_CHECK_DEVICES(q.forward(qs::autograd::Var(x.to(Device::cuda()))).data(), y, 1e-5);
    q.to(Device::cpu());
    CHECK(equal(q.forward(qs::autograd::Var(x)).data(), y));
  }
}
