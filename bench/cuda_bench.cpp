// GPU benchmarks for scripts/gpu-check.sh. Each figure is the median of
// several timed rounds after warm-up, measured with the device synchronised
// around each round (wall clock, so launch overheads count, as they do in
// training).
//
//   gemm        qs::engine::matmul against a direct cublasGemmEx call on the
//               same shapes and dtypes: TFLOP/s of each and their ratio
//   copy        device-to-device copy kernel bandwidth (bytes read + written)
//   train-step  tokens/s of the default multimodal model's training step
//               (BENCHMARK.md sizes, batch 16 x (64 image + 64 text) tokens,
//               AdamW) in modes full and qslaw (fake 4-bit LLM with learned
//               group scales), f32 and TF32
//   quant       the packed 4-bit matvec's bandwidth; the LLM in real 4-bit
//   attention   fused (no score matrix) vs unfused attention, time and memory
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "bench/bench_util.h"
#include "engine/backend.h"
#include "engine/ops.h"
#include "nn/optim/optimizer.h"
#include "quant/quant_linear.h"
#include "quant/surgery.h"
#include "vision/default_llava.h"

namespace e = qs::engine;
namespace ag = qs::autograd;
using ag::Var;

using qs::bench::median;

namespace {

// Seconds per call of f: `warm` untimed calls, then `rounds` rounds of `iters` calls.
double time_per_call(const std::function<void()>& f, int warm, int rounds, int iters,
                     const std::function<void()>& sync = [] { e::cuda_synchronize(); }) {
  for (int i = 0; i < warm; ++i) f();
  sync();
  std::vector<double> t;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) f();
    sync();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters);
  }
  return median(t);
}

int bench_gemm() {
  cublasHandle_t h;
  cublasCreate(&h);
  std::printf("## GEMM: qs::engine::matmul vs direct cublasGemmEx (C = A B, row-major, TFLOP/s)\n\n");
  std::printf("| M x K x N | dtype | qslaw | cuBLAS | ratio |\n| --- | --- | ---: | ---: | ---: |\n");
  struct Shape3 { int64_t m, k, n; };
  const Shape3 shapes[] = {{2048, 256, 256}, {2048, 256, 768}, {2048, 768, 256}, {2048, 256, 2048},
                           {4096, 4096, 4096}, {8192, 8192, 8192}};
  struct Mode { const char* name; e::DType dt; bool tf32; cudaDataType type; cublasComputeType_t compute; };
  const Mode modes[] = {{"f32", e::DType::f32, false, CUDA_R_32F, CUBLAS_COMPUTE_32F},
                        {"tf32", e::DType::f32, true, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32},
                        {"bf16", e::DType::bf16, false, CUDA_R_16BF, CUBLAS_COMPUTE_32F}};
  for (const Shape3& s : shapes) {
    for (const Mode& mode : modes) {
      e::Generator g(1);
      e::Tensor a = e::randn({s.m, s.k}, g).to(mode.dt).to(e::Device::cuda());
      e::Tensor b = e::randn({s.k, s.n}, g).to(mode.dt).to(e::Device::cuda());
      e::Tensor c = e::empty({s.m, s.n}, mode.dt, e::Device::cuda());
      e::cuda_set_allow_tf32(mode.tf32);
      const double flops = 2.0 * s.m * s.k * s.n;
      const int iters = flops > 1e11 ? 5 : 50;
      double ours = time_per_call([&] { e::matmul(a, b); }, 3, 7, iters);
      const float one = 1.0f, zero = 0.0f;
      e::cuda_synchronize();
      double ref = time_per_call([&] {
        cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, s.n, s.m, s.k, &one, b.raw_data(), mode.type, s.n,
                     a.raw_data(), mode.type, s.k, &zero, c.raw_data(), mode.type, s.n, mode.compute,
                     CUBLAS_GEMM_DEFAULT);
      }, 3, 7, iters, [] { cudaDeviceSynchronize(); });
      std::printf("| %ld x %ld x %ld | %s | %.1f | %.1f | %.2f |\n", long(s.m), long(s.k), long(s.n),
                  mode.name, flops / ours / 1e12, flops / ref / 1e12, ref / ours);
    }
  }
  e::cuda_set_allow_tf32(false);
  cublasDestroy(h);
  return 0;
}

int bench_copy() {
  std::printf("\n## Copy kernel bandwidth (strided transpose and contiguous dtype conversion)\n\n");
  const int64_t n = 1 << 14;
  e::Tensor x = e::zeros({n, n / 4}, e::DType::f32, e::Device::cuda());
  double t = time_per_call([&] { e::Tensor y = x.to(e::DType::bf16); }, 2, 7, 10);
  double bytes = double(x.numel()) * (4 + 2);
  std::printf("f32 -> bf16 conversion, %.0f MB: %.0f GB/s\n", x.nbytes() / 1e6, bytes / t / 1e9);
  t = time_per_call([&] { e::Tensor y = x.t().contiguous(); }, 2, 7, 10);
  std::printf("f32 transpose copy, %.0f MB: %.0f GB/s\n", x.nbytes() / 1e6, 2.0 * x.nbytes() / t / 1e9);
  t = time_per_call([&] { e::Tensor y = e::add(x, x); }, 2, 7, 10);
  std::printf("f32 add, %.0f MB each: %.0f GB/s\n", x.nbytes() / 1e6, 3.0 * x.nbytes() / t / 1e9);
  return 0;
}

// The fused 4-bit matvec's effective bandwidth (codes + scales + zeros + x + y
// bytes over time) next to cuBLAS's f32 GEMV on the same shape, then the
// default LLM's decoding and batched forward in f32 and real 4-bit.
int bench_quant() {
  std::printf("\n## Packed 4-bit matvec (batch 1, group 64) vs f32 GEMV through cuBLAS\n\n");
  std::printf("| out x in | 4-bit us | 4-bit GB/s | f32 us | f32 GB/s | speed-up |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
  const int64_t sizes[][2] = {{4096, 4096}, {8192, 8192}, {16384, 16384}, {28672, 8192}};
  for (const auto& s : sizes) {
    const int64_t out = s[0], in = s[1], group = 64, groups = in / group;
    e::Generator g(2);
    e::Tensor packed = e::round(e::rand({out, in / 2}, g, e::DType::f32, 0.0, 255.0)).to(e::DType::u8).to(e::Device::cuda());
    e::Tensor scale = e::rand({out, groups}, g, e::DType::f32, 0.01, 0.1, e::Device::cuda());
    e::Tensor zero = e::full({out, groups}, 8.0, e::DType::f32, e::Device::cuda());
    e::Tensor x = e::randn({1, in}, g, e::DType::f32, 0.0, 1.0, e::Device::cuda());
    e::Tensor w = e::randn({out, in}, g, e::DType::f32, 0.0, 1.0, e::Device::cuda());
    double tq = time_per_call([&] { e::matvec_4bit(x, packed, scale, zero, group); }, 5, 7, 50);
    double tf = time_per_call([&] { e::matmul(x, w.t()); }, 5, 7, 50);
    const double bq = out * in / 2.0 + 2.0 * out * groups * 4 + in * 4.0 + out * 4.0;
    const double bf = out * in * 4.0 + in * 4.0 + out * 4.0;
    std::printf("| %ld x %ld | %.1f | %.0f | %.1f | %.0f | %.2f |\n", long(out), long(in), tq * 1e6,
                bq / tq / 1e9, tf * 1e6, bf / tf / 1e9, tf / tq);
  }

  std::printf("\n## Default LLM (dim 256, 8 layers) on the GPU: f32 vs real 4-bit (group 64)\n\n");
  std::printf("| weights | decode tokens/s (batch 1, KV cache) | forward tokens/s (16 x 128, no grad) |\n");
  std::printf("| --- | ---: | ---: |\n");
  for (bool quantized : {false, true}) {
    qs::nn::LlamaConfig c;
    auto llm = std::make_shared<qs::nn::Llama>(c);
    if (quantized) {
      qs::quant::QuantSpec spec;
      spec.bits = 4;
      spec.group_size = 64;
      for (const std::string& path : qs::quant::quantize_linears(*llm, spec, [](const std::string&) { return true; })) {
        dynamic_cast<qs::quant::QuantLinear&>(llm->submodule(path)).to_real();
      }
    }
    llm->to(e::Device::cuda());
    qs::nn::GenerateOptions o;
    o.max_new_tokens = 64;
    o.eos_id = -1;
    std::vector<int64_t> prompt(16, 5);
    double td = time_per_call([&] { llm->generate(prompt, o); }, 1, 3, 1);
    e::Generator g(3);
    std::vector<float> u = e::to_vector<float>(e::rand({16 * 128}, g, e::DType::f32, 4.0, 2000.0));
    std::vector<int64_t> ids(u.begin(), u.end());
    e::Tensor batch = e::from_vector(ids, {16, 128});
    ag::NoGrad no_grad;
    double tb = time_per_call([&] { llm->forward(batch); }, 2, 5, 5);
    std::printf("| %s | %.0f | %.0f |\n", quantized ? "4-bit packed" : "f32", 64 / td, 16 * 128 / tb);
  }
  return 0;
}

// Forward + backward of causal attention, fused kernel vs the unfused ops
// (which hold the (T, T) scores per head): time and peak memory.
int bench_attention() {
  std::printf("\n## Causal attention, forward + backward, B 1, H 8, head dim 64 (f32)\n\n");
  std::printf("| T | fused ms | fused peak MB | unfused ms | unfused peak MB |\n| ---: | ---: | ---: | ---: | ---: |\n");
  for (int64_t t : {512, 2048, 8192}) {
    e::Generator g(4);
    const e::Shape shape{1, 8, t, 64};
    e::Tensor q0 = e::randn(shape, g, e::DType::f32, 0.0, 1.0, e::Device::cuda());
    e::Tensor k0 = e::randn(shape, g, e::DType::f32, 0.0, 1.0, e::Device::cuda());
    e::Tensor v0 = e::randn(shape, g, e::DType::f32, 0.0, 1.0, e::Device::cuda());
    auto run = [&](bool fused) {
      Var q(q0, true), k(k0, true), v(v0, true);
      Var out;
      if (fused) {
        out = ag::attention(q, k, v, 0.125, true);
      } else {
        e::Tensor mask = e::gt(e::arange(0, t).view({1, t}), e::arange(0, t).view({t, 1})).to(e::Device::cuda());
        Var s = ag::mul(ag::matmul(q, ag::transpose(k, -1, -2)), 0.125);
        out = ag::matmul(ag::softmax(ag::masked_fill(s, mask, -INFINITY)), v);
      }
      ag::sum(out).backward();
    };
    double ms[2], mb[2];
    for (int f = 0; f < 2; ++f) {
      run(f == 0);
      e::cuda_synchronize();
      e::cuda_reset_peak();
      const double base = e::cuda_memory_stats().in_use;
      ms[f] = time_per_call([&] { run(f == 0); }, 1, 3, t > 4096 ? 1 : 3) * 1e3;
      mb[f] = (e::cuda_memory_stats().peak - base) / 1e6;
    }
    std::printf("| %ld | %.2f | %.0f | %.2f | %.0f |\n", long(t), ms[0], mb[0], ms[1], mb[1]);
  }
  return 0;
}

// precision: "f32", "tf32" (f32 with TF32 tensor cores) or "bf16" (autocast).
int bench_train(const std::string& mode, const std::string& precision, int batch) {
  const bool tf32 = precision == "tf32";
  qs::vision::LlavaSizes sizes = qs::vision::default_llava_sizes();
  auto model = qs::vision::make_llava(sizes);
  if (mode == "qslaw") {
    qs::quant::QuantSpec spec;
    spec.bits = 4;
    spec.group_size = 64;
    for (const std::string& path :
         qs::quant::quantize_linears(model->llm(), spec, [](const std::string&) { return true; })) {
      auto& q = dynamic_cast<qs::quant::QuantLinear&>(model->llm().submodule(path));
      q.enable_scale_learning();
    }
  }
  model->to(e::Device::cuda());
  if (mode == "qslaw") {
    for (auto& [name, p] : model->vision().named_parameters()) p.set_requires_grad(false);
  }
  std::vector<std::pair<std::string, Var>> trainable;
  for (auto& [name, p] : model->named_parameters()) {
    if (p.requires_grad()) trainable.emplace_back(name, p);
  }
  int64_t n_trainable = 0;
  for (auto& [name, p] : trainable) n_trainable += p.numel();
  qs::nn::AdamW opt({qs::nn::ParamGroup{"all", trainable, 1e-4, 0.0}});
  qs::vision::SyntheticBatch b = qs::vision::synthetic_batch(sizes, batch, 64, 1, e::Device::cuda());
  const int64_t tokens = b.ids.numel();
  e::cuda_set_allow_tf32(tf32);
  double loss0 = 0, loss = 0;
  auto step = [&] {
    ag::Autocast autocast(precision == "bf16");
    Var logits = model->forward(b.ids, b.images).logits;
    Var l = ag::cross_entropy(ag::reshape(logits, {-1, sizes.llm.vocab_size}), b.targets);
    opt.zero_grad();
    l.backward();
    opt.step();
    loss = l.data().item<double>();  // read back every step, as a training loop logs it
  };
  step();
  loss0 = loss;
  e::cuda_reset_peak();
  double t = time_per_call(step, 2, 5, 5);
  e::DeviceMemoryStats m = e::cuda_memory_stats();
  std::printf("| %s | %s | %d | %.2f | %.0f | %.0f | %.1fM | %.3f -> %.3f |\n", mode.c_str(),
              precision.c_str(), batch, t * 1e3, tokens / t, m.peak / 1e6, n_trainable / 1e6,
              loss0, loss);
  e::cuda_set_allow_tf32(false);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (e::cuda_device_count() == 0) {
    std::printf("no CUDA device visible (CUDA backend built: %d)\n", int(e::cuda_built()));
    return 1;
  }
  const std::string what = argc > 1 ? argv[1] : "all";
  try {
    if (what == "gemm" || what == "all") bench_gemm();
    if (what == "copy" || what == "all") bench_copy();
    if (what == "quant" || what == "all") bench_quant();
    if (what == "attention" || what == "all") bench_attention();
    if (what == "train-step" || what == "all") {
      std::printf("\n## Training step of the default multimodal model (batch x 128 tokens, AdamW)\n\n");
      std::printf("| mode | matmul | batch | ms/step | tokens/s | peak MB | trainable | loss first -> last |\n");
      std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
      for (const char* mode : {"full", "qslaw"}) {
        for (const char* precision : {"f32", "tf32", "bf16"}) bench_train(mode, precision, 16);
      }
      bench_train("full", "bf16", 64);
    }
  } catch (const std::exception& ex) {
    std::printf("error: %s\n", ex.what());
    return 1;
  }
  return 0;
}
