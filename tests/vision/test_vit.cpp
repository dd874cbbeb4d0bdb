#include <cmath>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "engine/ops.h"
#include "nn/optim/optimizer.h"
#include "support.h"
#include "vision/clip.h"
#include "vision/preprocess.h"

using namespace qs::vision;
namespace ag = qs::autograd;
namespace e = qs::engine;

TEST_CASE("preprocessing by hand: pad with the mean color, crop, normalize") {
  // A 1 x 2 image: red, blue.
  Tensor img = e::from_vector<uint8_t>({255, 0, 0, 0, 0, 255}, {1, 2, 3});
  Tensor sq = pad_to_square(img, {10, 20, 30});
  CHECK(sq.shape() == e::Shape{2, 2, 3});
  CHECK(qs::test::values(sq) == std::vector<double>{255, 0, 0, 0, 0, 255, 10, 20, 30, 10, 20, 30});
  PreprocessConfig c;
  c.size = 2;
  c.mean = {0.5, 0.5, 0.5};
  c.std = {0.5, 0.25, 0.5};
  Tensor x = normalize(sq, c);  // (3, 2, 2): (v / 255 - 0.5) / std
  CHECK(x.shape() == e::Shape{3, 2, 2});
  CHECK(e::element_as_double(x, 0) == doctest::Approx(1.0));                    // R of red
  CHECK(e::element_as_double(x, 1) == doctest::Approx(-1.0));                   // R of blue
  CHECK(e::element_as_double(x, 4 + 2) == doctest::Approx((20 / 255.0 - 0.5) / 0.25));  // G of the pad
  Tensor wide = e::zeros({4, 8, 3}, e::DType::u8);
  CHECK(center_crop(wide, 4).shape() == e::Shape{4, 4, 3});
  CHECK(resize_short_side(wide, 2).shape() == e::Shape{2, 4, 3});
  CHECK(e::equal(resize_short_side(sq, 2), sq));  // no-op at the same size
  // Uniform images stay uniform under bicubic resizing.
  Tensor flat = e::full({6, 9, 3}, 77, e::DType::u8);
  CHECK(e::equal(resize_short_side(flat, 4), e::full({4, 6, 3}, 77, e::DType::u8)));
  CHECK_THROWS_AS(normalize(e::zeros({2, 2}), c), qs::Error);
}

TEST_CASE("patchify lays patches out in row-major order") {
  Tensor img = e::arange(0, 48, 1, e::DType::f32).view({1, 3, 4, 4});
  Tensor p = patchify(ag::Var(img), 2).data();
  CHECK(p.shape() == e::Shape{1, 4, 12});
  // Patch 1 (top row, right): channel 0, pixel (0, 2) = 2; channel 1, pixel (1, 3) = 16 + 7.
  CHECK(e::element_as_double(p, 12 + 0) == 2);
  CHECK(e::element_as_double(p, 12 + 4 + 3) == 23);
}

TEST_CASE("gradcheck: patch embedding and the contrastive loss") {
  e::Generator gen(1);
  qs::nn::Linear embed(12, 5, false, gen, 0.3);
  embed.to(e::DType::f64);
  auto r = ag::gradcheck([&](auto v) { return embed.forward(patchify(v[0], 2)); },
                         {e::randn({2, 3, 4, 4}, gen, e::DType::f64)}, embed.parameters());
  INFO(r.message);
  CHECK(r.ok);
  auto l = ag::gradcheck([](auto v) { return clip_loss(v[0], v[1], v[2]); },
                         {e::randn({4, 6}, gen, e::DType::f64), e::randn({4, 6}, gen, e::DType::f64),
                          e::full({1}, 1.5, e::DType::f64)});
  INFO(l.message);
  CHECK(l.ok);
  // Two extra negative captions (rows 4-5 of the text embeddings).
  auto n = ag::gradcheck([](auto v) { return clip_loss(v[0], v[1], v[2]); },
                         {e::randn({4, 6}, gen, e::DType::f64), e::randn({6, 6}, gen, e::DType::f64),
                          e::full({1}, 1.5, e::DType::f64)});
  INFO(n.message);
  CHECK(n.ok);
}

TEST_CASE("clip_loss: hard negatives enter only the image-to-caption term") {
  // Hand-computed: unit embeddings, scale 1. Images i0 = e0, i1 = e1; captions
  // t0 = e0, t1 = e1 and a negative n = e0 (as close to i0 as its caption).
  auto v = [](std::vector<double> x, qs::engine::Shape s) { return ag::Var(e::from_vector<double>(x, s)); };
  ag::Var images = v({1, 0, 0, 1}, {2, 2}), scale = v({0.0}, {1});
  const double plain = clip_loss(images, v({1, 0, 0, 1}, {2, 2}), scale).data().item<double>();
  const double with_negative = clip_loss(images, v({1, 0, 0, 1, 1, 0}, {3, 2}), scale).data().item<double>();
  const double row = std::log(1 + std::exp(-1.0));  // -log(e / (e + 1))
  CHECK(plain == doctest::Approx(row));
  // Image 0 now has logits (1, 0, 1), image 1 (0, 1, 0); captions -> images unchanged.
  const double i0 = -std::log(std::exp(1.0) / (2 * std::exp(1.0) + 1)), i1 = -std::log(std::exp(1.0) / (std::exp(1.0) + 2));
  CHECK(with_negative == doctest::Approx(0.5 * ((i0 + i1) / 2 + row)));
  CHECK_THROWS_AS(clip_loss(images, v({1, 0}, {1, 2}), scale), qs::Error);
}

TEST_CASE("the ViT returns every layer - features are layer -2 patch tokens") {
  VitConfig c;
  c.image_size = 16;
  c.patch_size = 4;
  c.width = 32;
  c.layers = 3;
  c.heads = 2;
  VisionTransformer vit(c);
  e::Generator gen(2);
  ag::Var images(e::randn({2, 3, 16, 16}, gen));
  auto states = vit.hidden_states(images);
  CHECK(states.size() == 4);
  CHECK(states.back().shape() == e::Shape{2, 17, 32});
  Tensor f = vit.features(images).data();
  CHECK(f.shape() == e::Shape{2, 16, 32});
  CHECK(e::equal(f, states[2].data().slice(1, 1, 17).contiguous()));
  CHECK(vit.pooled(images).shape() == e::Shape{2, 32});
  CHECK_THROWS_AS(vit.features(ag::Var(e::randn({1, 3, 8, 8}, gen))), qs::Error);
}

TEST_CASE("CLIP: matched image-caption pairs pull together under the contrastive loss") {
  VitConfig v;
  v.image_size = 16;
  v.patch_size = 4;
  v.width = 32;
  v.layers = 2;
  v.heads = 2;
  ClipTextConfig t;
  t.vocab_size = 20;
  t.width = 32;
  t.layers = 1;
  t.heads = 2;
  t.max_len = 6;
  ClipModel model(v, t, 16);
  e::Generator gen(3);
  ag::Var images(e::randn({4, 3, 16, 16}, gen));
  Tensor ids = e::from_vector<int64_t>({5, 6, 7, 1, 9, 1, 8, 8, 1, 2, 3, 1}, {4, 3});
  Tensor last = e::from_vector<int64_t>({2, 2, 2, 2});
  qs::nn::AdamW opt({qs::nn::ParamGroup{"all", model.named_parameters(), 1e-2, 0.0}});
  double first = 0, final_loss = 0;
  for (int step = 0; step < 60; ++step) {
    ag::Var loss = model.loss(images, ids, last);
    if (step == 0) first = loss.data().item<double>();
    final_loss = loss.data().item<double>();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  MESSAGE("CLIP loss " << first << " -> " << final_loss << " (chance: ln 4 = " << std::log(4.0) << ")");
  CHECK(final_loss < 0.75 * std::log(4.0));  // clearly below chance: pairs are being told apart
}
