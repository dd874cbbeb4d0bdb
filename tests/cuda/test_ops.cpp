// Edge cases of engine ops on the GPU against the CPU kernel: every dtype
// pair of copies, every reduction dim, masked rows, word- and byte-wise
// packed kernels, head sizes, several optimizer steps, allocator and device
// errors. The plain comparison of every op (values and gradients) is the
// all-ops harness's (test_all_ops.cpp).
#include "cuda_support.h"
#include "engine/ops.h"

using namespace qs::engine;
using qs::test::cpu;
using qs::test::gpu;
using qs::test::have_gpu;

namespace {
Tensor rnd(const Shape& s, uint64_t seed, DType dt = DType::f32) {
  Generator g(seed);
  return randn(s, g, dt);
}
}  // namespace

TEST_CASE("cuda: binary ops broadcast like the CPU, comparisons give u8") {
  if (!have_gpu()) return;
  Tensor a = rnd({4, 1, 33}, 2), b = rnd({5, 33}, 3);
  for (int op = 0; op <= static_cast<int>(BinaryOp::ge); ++op) {
    auto bo = static_cast<BinaryOp>(op);
    Tensor aa = bo == BinaryOp::pow ? abs(a) + 0.5 : a;
    INFO("op ", op);
    QS_CHECK_DEVICES(binary(bo, gpu(aa), gpu(b)), binary(bo, aa, b), 2e-6);
  }
  QS_CHECK_DEVICES(gpu(a) * 3.0, a * 3.0, 0.0);
  Tensor ia = from_vector<int64_t>({7, -9, 12, 5}), ib = from_vector<int64_t>({2, 4, -5, 5});
  QS_CHECK_DEVICES(div(gpu(ia), gpu(ib)), div(ia, ib), 0.0);
  CHECK(qs::test::has(qs::test::error_of([&] { div(gpu(ia), gpu(zeros_like(ib))); }),
                      "division by zero"));
  Tensor cond = gt(rnd({4, 5, 1}, 4), 0.0);
  QS_CHECK_DEVICES(where(gpu(cond), gpu(a), gpu(b)), where(cond, a, b), 0.0);
  // In place, as gradients accumulate: a contiguous destination and a strided one.
  Tensor acc = rnd({5, 33}, 5), acc_gpu = gpu(acc);
  add_(acc, b);
  add_(acc_gpu, gpu(b));
  add_(acc.slice(1, 0, 7), b.slice(1, 3, 10));
  add_(acc_gpu.slice(1, 0, 7), gpu(b).slice(1, 3, 10));
  QS_CHECK_DEVICES(acc_gpu, acc, 0.0);
}

TEST_CASE("cuda: copies convert every dtype pair, broadcast, and write strided views") {
  if (!have_gpu()) return;
  Tensor x = rnd({6, 9}, 5) * 40.0;
  for (DType from : {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8, DType::bf16, DType::f16}) {
    Tensor src = from == DType::u8 ? abs(x).to(DType::u8) : x.to(from);
    for (DType to : {DType::f32, DType::f64, DType::i32, DType::i64, DType::bf16, DType::f16}) {
      INFO(dtype_name(from), " -> ", dtype_name(to));
      QS_CHECK_DEVICES(gpu(src).to(to), src.to(to), 0.0);
    }
  }
  Tensor dst = zeros({9, 6}, DType::f32, Device::cuda());
  copy_(dst.t(), gpu(x));  // write through a transposed view
  QS_CHECK_DEVICES(dst, x.t().contiguous(), 0.0);
  Tensor row = rnd({1, 6}, 6);
  Tensor wide = empty({4, 6}, DType::f32, Device::cuda());
  copy_(wide, gpu(row));
  QS_CHECK_DEVICES(wide, row.expand({4, 6}).contiguous(), 0.0);
  QS_CHECK_DEVICES(full({3, 2}, 2.5, DType::bf16, Device::cuda()), full({3, 2}, 2.5, DType::bf16), 0.0);
  QS_CHECK_DEVICES(concat({gpu(x), gpu(x * 2.0)}, 1), concat({x, x * 2.0}, 1), 0.0);
}

TEST_CASE("cuda: reductions over every dim, with indices, match the CPU") {
  if (!have_gpu()) return;
  Tensor x = rnd({7, 300, 5}, 8);
  for (int64_t d = 0; d < 3; ++d) {
    INFO("dim ", d);
    QS_CHECK_DEVICES(sum(gpu(x), d), sum(x, d), 1e-6);
    QS_CHECK_DEVICES(mean(gpu(x), d, true), mean(x, d, true), 1e-6);
    QS_CHECK_DEVICES(var(gpu(x), d), var(x, d), 1e-6);
    QS_CHECK_DEVICES(max(gpu(x), d).values, max(x, d).values, 0.0);
    QS_CHECK_DEVICES(max(gpu(x), d).indices, max(x, d).indices, 0.0);
    QS_CHECK_DEVICES(min(gpu(x), d).indices, min(x, d).indices, 0.0);
  }
  QS_CHECK_DEVICES(sum(gpu(x)), sum(x), 1e-6);
  QS_CHECK_DEVICES(sum(gpu(x.to(DType::i64))), sum(x.to(DType::i64)), 0.0);
  Tensor ties = from_vector<float>({1, 3, 3, 0, 3}, {1, 5});
  QS_CHECK_DEVICES(argmax(gpu(ties), 1), argmax(ties, 1), 0.0);  // first of equal maxima
  QS_CHECK_DEVICES(sum_to(gpu(x), {1, 300, 1}), sum_to(x, {1, 300, 1}), 1e-6);
}

TEST_CASE("cuda: matmul of plain, transposed, batched and broadcast operands") {
  if (!have_gpu()) return;
  Tensor a = rnd({3, 17, 40}, 9), b = rnd({3, 40, 23}, 10), w = rnd({23, 40}, 11);
  QS_CHECK_DEVICES(matmul(gpu(a), gpu(b)), matmul(a, b), 1e-5);
  QS_CHECK_DEVICES(matmul(gpu(a), gpu(w).t()), matmul(a, w.t()), 1e-5);
  QS_CHECK_DEVICES(matmul(gpu(b).transpose(1, 2), gpu(a).transpose(1, 2)),
                   matmul(b.transpose(1, 2), a.transpose(1, 2)), 1e-5);
  QS_CHECK_DEVICES(matmul(gpu(a.select(0, 0)), gpu(b)), matmul(a.select(0, 0), b), 1e-5);
  Tensor p = rnd({2, 3, 4, 5}, 12).permute({0, 2, 1, 3});  // no mergeable batch
  Tensor q = rnd({2, 4, 5, 6}, 13);
  QS_CHECK_DEVICES(matmul(gpu(p), gpu(q)), matmul(p, q), 1e-5);
  QS_CHECK_DEVICES(matmul(gpu(a.to(DType::f64)), gpu(b.to(DType::f64))), matmul(a.to(DType::f64), b.to(DType::f64)), 1e-12);
  // bf16/f16 inputs with f32 accumulation, against the f32 product of the rounded inputs.
  for (DType h : {DType::bf16, DType::f16}) {
    Tensor ah = a.to(h), bh = b.to(h);
    Tensor expect = matmul(ah.to(DType::f32), bh.to(DType::f32));
    QS_CHECK_DEVICES(matmul(gpu(ah), gpu(bh)).to(DType::f32), expect, h == DType::bf16 ? 1e-2 : 2e-3);
  }
}

TEST_CASE("cuda: softmax, norms and their backward passes match the CPU") {
  if (!have_gpu()) return;
  Tensor x = rnd({2, 9, 130}, 14), dy = rnd({2, 9, 130}, 15);
  Tensor w = rnd({130}, 16), b = rnd({130}, 17);
  Tensor masked = masked_fill(x, gt(rnd({2, 9, 130}, 18), 1.0), -INFINITY);
  QS_CHECK_DEVICES(softmax(gpu(masked)), softmax(masked), 1e-6);
  QS_CHECK_DEVICES(log_softmax(gpu(x)), log_softmax(x), 1e-5);
  Tensor all_masked = full({2, 4}, -INFINITY);
  QS_CHECK_DEVICES(softmax(gpu(all_masked)), softmax(all_masked), 0.0);
  Tensor y = softmax(x), ly = log_softmax(x);
  QS_CHECK_DEVICES(softmax_backward(gpu(y), gpu(dy)), softmax_backward(y, dy), 1e-6);
  QS_CHECK_DEVICES(log_softmax_backward(gpu(ly), gpu(dy)), log_softmax_backward(ly, dy), 1e-5);

  NormForward lc = layer_norm_forward(x, w, b, 1e-5), lg = layer_norm_forward(gpu(x), gpu(w), gpu(b), 1e-5);
  QS_CHECK_DEVICES(lg.y, lc.y, 1e-5);
  QS_CHECK_DEVICES(lg.mean, lc.mean, 1e-6);
  QS_CHECK_DEVICES(lg.rstd, lc.rstd, 1e-5);
  NormGrads gc = layer_norm_backward(dy, x, w, b, lc), gg = layer_norm_backward(gpu(dy), gpu(x), gpu(w), gpu(b), lg);
  QS_CHECK_DEVICES(gg.dx, gc.dx, 1e-4);
  QS_CHECK_DEVICES(gg.dweight, gc.dweight, 1e-4);
  QS_CHECK_DEVICES(gg.dbias, gc.dbias, 1e-4);

  NormForward rc = rms_norm_forward(x, w, 1e-6), rg = rms_norm_forward(gpu(x), gpu(w), 1e-6);
  QS_CHECK_DEVICES(rg.y, rc.y, 1e-5);
  NormGrads rgc = rms_norm_backward(dy, x, w, rc), rgg = rms_norm_backward(gpu(dy), gpu(x), gpu(w), rg);
  QS_CHECK_DEVICES(rgg.dx, rgc.dx, 1e-4);
  QS_CHECK_DEVICES(rgg.dweight, rgc.dweight, 1e-4);
  // No affine parameters.
  QS_CHECK_DEVICES(layer_norm(gpu(x), Tensor(), Tensor()), layer_norm(x, Tensor(), Tensor()), 1e-5);
}

TEST_CASE("cuda: embedding, index_select, index_add, rope and cross-entropy match the CPU") {
  if (!have_gpu()) return;
  Tensor table = rnd({50, 24}, 19);
  Tensor ids = from_vector<int64_t>({3, 0, 49, 3, 7, 3}, {2, 3});
  QS_CHECK_DEVICES(embedding(gpu(table), ids), embedding(table, ids), 0.0);  // ids stay on the CPU
  QS_CHECK_DEVICES(embedding(gpu(table), gpu(ids)), embedding(table, ids), 0.0);
  Tensor idx = from_vector<int64_t>({2, 0, 2, 1});
  Tensor x = rnd({3, 4, 5}, 20);
  QS_CHECK_DEVICES(index_select(gpu(x), 1, idx), index_select(x, 1, idx), 0.0);
  Tensor dst = zeros({3, 4, 5}), src = rnd({3, 4, 5}, 21);
  Tensor dst_g = gpu(dst);
  index_add_(dst, 1, from_vector<int64_t>({1, 1, 3, 0}), src);
  index_add_(dst_g, 1, from_vector<int64_t>({1, 1, 3, 0}), gpu(src));
  QS_CHECK_DEVICES(dst_g, dst, 1e-6);
  CHECK(qs::test::has(qs::test::error_of([&] { index_select(gpu(x), 1, from_vector<int64_t>({4})); }),
                      "out of range"));

  Tensor q = rnd({2, 3, 6, 8}, 22);
  Tensor pos = arange(5, 11);
  QS_CHECK_DEVICES(rope(gpu(q), pos), rope(q, pos), 1e-6);
  QS_CHECK_DEVICES(rope(gpu(q), pos, 10000.0, true), rope(q, pos, 10000.0, true), 1e-6);

  Tensor logits = rnd({9, 301}, 23) * 3.0;
  Tensor targets = from_vector<int64_t>({0, 300, -100, 5, 5, 17, -100, 2, 299});
  QS_CHECK_DEVICES(cross_entropy(gpu(logits), targets), cross_entropy(logits, targets), 1e-6);
  QS_CHECK_DEVICES(cross_entropy_backward(gpu(logits), targets, -100, 0.5),
                   cross_entropy_backward(logits, targets, -100, 0.5), 1e-7);
  Tensor none = full({9}, -100.0, DType::i64);
  QS_CHECK_DEVICES(cross_entropy(gpu(logits), none), cross_entropy(logits, none), 0.0);
}

TEST_CASE("cuda: fused AdamW and SGD updates match the CPU over several steps") {
  if (!have_gpu()) return;
  Tensor p = rnd({1000}, 24), pg = gpu(p);
  Tensor m = zeros_like(p), v = zeros_like(p), mg = gpu(m), vg = gpu(v);
  for (int64_t step = 1; step <= 3; ++step) {
    Tensor g = rnd({1000}, 100 + step);
    adamw_step_(p, g, m, v, 1e-2, 0.9, 0.95, 1e-8, 0.1, step);
    adamw_step_(pg, gpu(g), mg, vg, 1e-2, 0.9, 0.95, 1e-8, 0.1, step);
  }
  QS_CHECK_DEVICES(pg, p, 1e-6);
  QS_CHECK_DEVICES(vg, v, 1e-6);
  Tensor s = rnd({100}, 25), sg = gpu(s), buf = zeros_like(s), bufg = gpu(buf);
  sgd_step_(s, s * 0.5, buf, 0.1, 0.9, 0.01);
  sgd_step_(sg, sg * 0.5, bufg, 0.1, 0.9, 0.01);
  QS_CHECK_DEVICES(sg, s, 1e-6);
}

TEST_CASE("cuda: the caching allocator reuses freed blocks instead of calling cudaMalloc") {
  if (!have_gpu()) return;
  Tensor warm = empty({1 << 16}, DType::f32, Device::cuda());
  warm = Tensor();
  const int64_t before = qs::engine::cuda_memory_stats(0).device_mallocs;
  for (int i = 0; i < 50; ++i) {
    Tensor t = empty({1 << 16}, DType::f32, Device::cuda());
    fill_(t, i);
  }
  CHECK(qs::engine::cuda_memory_stats(0).device_mallocs == before);
}

TEST_CASE("cuda: ops refuse tensors on different devices, naming both") {
  if (!have_gpu()) return;
  Tensor a = rnd({3}, 26);
  std::string msg = qs::test::error_of([&] { add(a, gpu(a)); });
  CHECK(qs::test::has(msg, "different devices"));
  CHECK(qs::test::has(msg, "cuda:0"));
}

TEST_CASE("cuda: packed 4-bit matvec and dequantization match the CPU") {
  if (!have_gpu()) return;
  Generator g(30);
  for (int64_t in : {256, 100}) {  // word-wise and byte-wise kernels
    const int64_t out = 77, group = in == 256 ? 64 : 10, groups = (in + group - 1) / group;
    Tensor codes = round(rand({out, in / 2}, g, DType::f32, 0.0, 255.0)).to(DType::u8);
    Tensor scale = rand({out, groups}, g, DType::f32, 0.01, 0.1);
    Tensor zero = round(rand({out, groups}, g, DType::f32, 0.0, 15.0));
    INFO("in ", in);
    for (int bits : {2, 3, 4, 8}) {
      const int64_t row_bytes = (in * bits + 7) / 8;
      Tensor stream = round(rand({out, row_bytes}, g, DType::f32, 0.0, 255.0)).to(DType::u8);
      INFO("bits ", bits);
      QS_CHECK_DEVICES(dequantize_packed(gpu(stream), gpu(scale), gpu(zero), bits, group, in),
                       dequantize_packed(stream, scale, zero, bits, group, in), 0.0);
    }
    for (int64_t n : {1, 5, 11}) {
      Tensor x = randn({n, in}, g);
      QS_CHECK_DEVICES(matvec_4bit(gpu(x), gpu(codes), gpu(scale), gpu(zero), group),
                       matvec_4bit(x, codes, scale, zero, group), 1e-4);
    }
  }
}

TEST_CASE("cuda: fused attention forward and backward match the CPU kernel") {
  if (!have_gpu()) return;
  for (int64_t d : {16, 64, 100}) {
    for (bool causal : {true, false}) {
      const int64_t t = 37, s = causal ? 45 : 37;
      Tensor q = rnd({2, 3, t, d}, 40), k = rnd({2, 3, s, d}, 41), v = rnd({2, 3, s, d}, 42);
      std::vector<uint8_t> p(2 * s, 0);
      p[3] = p[s + 10] = 1;
      Tensor pad = from_vector(p, {2, s});
      Tensor dout = rnd({2, 3, t, d}, 43);
      INFO("head dim ", d, " causal ", causal);
      AttentionForward fc = attention_forward(q, k, v, 0.125, causal, pad);
      AttentionForward fg = attention_forward(gpu(q), gpu(k), gpu(v), 0.125, causal, pad);
      QS_CHECK_DEVICES(fg.out, fc.out, 1e-5);
      QS_CHECK_DEVICES(fg.lse, fc.lse, 1e-5);
      AttentionGrads gc = attention_backward(dout, q, k, v, fc, 0.125, causal, pad);
      AttentionGrads gg = attention_backward(gpu(dout), gpu(q), gpu(k), gpu(v), fg, 0.125, causal, pad);
      QS_CHECK_DEVICES(gg.dq, gc.dq, 1e-4);
      QS_CHECK_DEVICES(gg.dk, gc.dk, 1e-4);
      QS_CHECK_DEVICES(gg.dv, gc.dv, 1e-4);
    }
  }
  // bf16 inputs compute in f32: close to the f32 result of the rounded inputs.
  Tensor q = rnd({1, 2, 20, 32}, 44).to(DType::bf16), k = rnd({1, 2, 20, 32}, 45).to(DType::bf16);
  AttentionForward fh = attention_forward(gpu(q), gpu(k), gpu(k), 0.2, true);
  AttentionForward fr = attention_forward(q.to(DType::f32), k.to(DType::f32), k.to(DType::f32), 0.2, true);
  QS_CHECK_DEVICES(fh.out.to(DType::f32), fr.out, 2e-2);
}

TEST_CASE("cuda: fused grid fake quantization and its gradients match the CPU") {
  if (!have_gpu()) return;
  Generator g(31);
  for (int64_t in : {256, 50}) {  // whole groups, and a short last group
    const int64_t out = 33, group = in == 256 ? 64 : 16, groups = (in + group - 1) / group;
    Tensor w = randn({out, in}, g);
    Tensor scale = rand({out, groups}, g, DType::f32, 0.1, 0.3);
    Tensor zero = round(rand({out, groups}, g, DType::f32, 4.0, 11.0));
    Tensor alpha = rand({out, groups}, g, DType::f32, 0.6, 1.4);
    Tensor dy = randn({out, in}, g);
    INFO("in ", in);
    QS_CHECK_DEVICES(fake_quantize_grid(gpu(w), gpu(scale), gpu(zero), gpu(alpha), 15, group),
                     fake_quantize_grid(w, scale, zero, alpha, 15, group), 1e-6);
    QS_CHECK_DEVICES(fake_quantize_grid(gpu(w), gpu(scale), gpu(zero), Tensor(), 15, group),
                     fake_quantize_grid(w, scale, zero, Tensor(), 15, group), 1e-6);
    FakeQuantGrads c = fake_quantize_grid_backward(dy, w, scale, zero, alpha, 15, group, true, true);
    FakeQuantGrads d =
        fake_quantize_grid_backward(gpu(dy), gpu(w), gpu(scale), gpu(zero), gpu(alpha), 15, group, true, true);
    QS_CHECK_DEVICES(d.dw, c.dw, 1e-6);
    QS_CHECK_DEVICES(d.dalpha, c.dalpha, 1e-4);
  }
}
