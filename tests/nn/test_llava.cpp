#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "nn/hooks.h"
#include "nn/models/llava.h"
#include "support.h"

using namespace qs::nn;
using qs::test::error_of;
using qs::test::has;
namespace ag = qs::autograd;
namespace e = qs::engine;

namespace {

constexpr int64_t kImage = 3;

// A stand-in encoder: a fixed linear map of the mean of each image's pixels
// repeated over `n` tokens (enough to check the wiring of the composition).
class ToyEncoder : public VisionEncoder {
 public:
  ToyEncoder(int64_t n, int64_t dim) : n_(n), dim_(dim) { w = register_parameter("w", e::full({3, dim}, 0.5)); }
  Var features(const Var& images) override {
    Var m = ag::mean(ag::reshape(images, {images.size(0), 3, -1}), 2);  // (B, 3)
    Var f = ag::matmul(m, w);                                         // (B, dim)
    return ag::expand(ag::unsqueeze(f, 1), {images.size(0), n_, dim_});
  }
  int64_t feature_dim() const override { return dim_; }
  int64_t tokens() const override { return n_; }
  Var w;

 private:
  int64_t n_, dim_;
};

LlamaConfig tiny_llm() {
  LlamaConfig c;
  c.vocab_size = 30;
  c.dim = 16;
  c.n_layers = 2;
  c.n_heads = 2;
  c.ffn_hidden = 32;
  c.max_seq_len = 32;
  c.seed = 3;
  return c;
}

}  // namespace

TEST_CASE("splice_image_embeds writes each image's rows at its sample's image tokens") {
  // Sample 0: text, 2 image tokens, text; sample 1: no image; sample 2: image tokens first.
  Tensor ids = e::from_vector<int64_t>({5, kImage, kImage, 6, 7, 8, 9, 10, kImage, kImage, 11, 12}, {3, 4});
  Tensor tok = e::arange(0, 3 * 4 * 2).reshape({3, 4, 2});
  Tensor img = e::arange(100, 108).reshape({2, 2, 2});
  Tensor out = splice_image_embeds(Var(tok), ids, kImage, Var(img)).data();
  const auto v = qs::test::values(out);
  // Text positions keep their embeddings.
  CHECK(v[0] == 0);
  CHECK(v[6] == 6);
  CHECK(v[8] == 8);  // sample 1 untouched
  // Sample 0 positions 1, 2 take image 0 rows 0, 1; sample 2 positions 0, 1 take image 1.
  CHECK(v[2] == 100);
  CHECK(v[3] == 101);
  CHECK(v[4] == 102);
  CHECK(v[5] == 103);
  CHECK(v[16] == 104);
  CHECK(v[19] == 107);
  CHECK(v[20] == 20);
}

TEST_CASE("splice_image_embeds is differentiable in text and image embeddings") {
  Tensor ids = e::from_vector<int64_t>({kImage, kImage, 4, 5, kImage, kImage}, {2, 3});
  auto f = [&](const std::vector<Var>& in) { return splice_image_embeds(in[0], ids, kImage, in[1]); };
  e::Generator gen(1);
  auto r = ag::gradcheck(f, {e::randn({2, 3, 2}, gen, e::DType::f64), e::randn({2, 2, 2}, gen, e::DType::f64)});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("splice_image_embeds rejects mismatched image counts and spans") {
  Tensor tok = e::zeros({2, 3, 2});
  Tensor ids = e::from_vector<int64_t>({kImage, kImage, 1, 1, 1, 1}, {2, 3});
  CHECK(has(error_of([&] { splice_image_embeds(Var(tok), ids, kImage, Var()); }), "no image was given"));
  CHECK(has(error_of([&] { splice_image_embeds(Var(tok), ids, kImage, Var(e::zeros({2, 2, 2}))); }),
            "2 images given, 1 samples hold image tokens"));
  CHECK(has(error_of([&] { splice_image_embeds(Var(tok), ids, kImage, Var(e::zeros({1, 3, 2}))); }),
            "holds 2 image tokens, an image gives 3"));
}

TEST_CASE("Llava composes encoder, projector and LLM - and trains the projector through the LLM") {
  auto llm = std::make_shared<Llama>(tiny_llm());
  auto enc = std::make_shared<ToyEncoder>(2, 8);
  Llava model(enc, {"mlp2x_gelu", 8, 16, 0.02, 1}, llm);
  model.image_token_id = kImage;
  model.vision().set_requires_grad(false);
  model.llm().set_requires_grad(false);
  Tensor ids = e::from_vector<int64_t>({1, kImage, kImage, 7, 1, 8, 9, 10}, {2, 4});
  e::Generator gen(4);
  Tensor images = e::rand({1, 3, 4, 4}, gen);
  LlmOutput out = model.forward(ids, images);
  CHECK(out.logits.shape() == Shape{2, 4, 30});
  // Sample 1 has no image: its logits equal the plain LLM's on its tokens.
  Tensor plain = llm->forward(ids.slice(0, 1, 2).contiguous()).logits.data();
  QS_CHECK_CLOSE(out.logits.data().slice(0, 1, 2), plain, 1e-5);
  // Gradients reach the projector only.
  Var loss = ag::sum(out.logits);
  loss.backward();
  CHECK(model.projector().parameter("fc1.weight").grad().defined());
  CHECK_FALSE(llm->parameter("layers.0.attn.q_proj.weight").grad().defined());
  CHECK_FALSE(enc->w.grad().defined());
  CHECK(has(error_of([&] { Llava bad(enc, {"linear", 8, 15, 0.02, 1}, llm); }), "takes width 16"));
  CHECK(has(error_of([&] { Projector p({"mlp3x", 8, 16, 0.02, 1}); }), "unknown type 'mlp3x'"));
}

TEST_CASE("Llava greedy generation with an image matches step-by-step argmax without a cache") {
  auto llm = std::make_shared<Llama>(tiny_llm());
  Llava model(std::make_shared<ToyEncoder>(2, 8), {"linear", 8, 16, 0.02, 1}, llm);
  model.image_token_id = kImage;
  model.eval();
  std::vector<int64_t> prompt{1, kImage, kImage, 7, 8};
  e::Generator gen(9);
  Tensor image = e::rand({1, 3, 4, 4}, gen);
  GenerateOptions o;
  o.max_new_tokens = 5;
  std::vector<int64_t> got = model.generate(prompt, image, o);
  REQUIRE(got.size() == 5u);
  ag::NoGrad no_grad;
  std::vector<int64_t> seq = prompt;
  for (int step = 0; step < 5; ++step) {
    Tensor ids = e::from_vector(seq, {1, static_cast<int64_t>(seq.size())});
    Tensor logits = model.forward(ids, image).logits.data();
    auto row = e::to_vector<float>(logits.select(0, 0).select(0, logits.size(1) - 1));
    int64_t next = std::max_element(row.begin(), row.end()) - row.begin();
    CHECK(next == got[static_cast<std::size_t>(step)]);
    seq.push_back(next);
  }
}

TEST_CASE("Llava sequence log-likelihood is minus the summed cross-entropy of each row's scored targets") {
  auto llm = std::make_shared<Llama>(tiny_llm());
  Llava model(std::make_shared<ToyEncoder>(2, 8), {"linear", 8, 16, 0.02, 1}, llm);
  model.image_token_id = kImage;
  model.eval();
  // Row 0 has the image and scores 2 targets; row 1 is text only and scores 3.
  Tensor ids = e::from_vector<int64_t>({1, kImage, kImage, 7, 8, 9, 1, 5, 6, 7, 8, 2}, {2, 6});
  Tensor targets = e::from_vector<int64_t>({-100, -100, -100, 12, 13, -100, -100, -100, 20, 21, 22, -100}, {2, 6});
  e::Generator gen(5);
  Tensor image = e::rand({1, 3, 4, 4}, gen);
  std::vector<double> ll = e::to_vector<double>(model.sequence_log_likelihood(ids, image, targets));
  REQUIRE(ll.size() == 2u);
  ag::NoGrad no_grad;
  Tensor logits = model.forward(ids, image).logits.data();
  const double counts[2] = {2.0, 3.0};
  for (int64_t r = 0; r < 2; ++r) {
    Tensor row = logits.select(0, r).contiguous();
    const double mean_ce = e::cross_entropy(row, targets.select(0, r).contiguous(), -100).item<double>();
    CHECK(ll[static_cast<std::size_t>(r)] == doctest::Approx(-mean_ce * counts[r]).epsilon(1e-5));
    CHECK(ll[static_cast<std::size_t>(r)] < 0.0);
  }
  Tensor outside = targets.clone();
  outside.data<int64_t>()[3] = 30;
  CHECK(has(error_of([&] { model.sequence_log_likelihood(ids, image, outside); }), "outside the vocabulary of 30"));
  Tensor none = e::full({2, 6}, -100.0, DType::i64);  // nothing scored: zero log-likelihood
  CHECK(e::to_vector<double>(model.sequence_log_likelihood(ids, image, none)) == std::vector<double>{0.0, 0.0});
}

TEST_CASE("forward hooks on linear layers see inputs and outputs, and unhooking restores the model") {
  Llama model(tiny_llm());
  Tensor ids = e::from_vector<int64_t>({1, 2, 3}, {1, 3});
  Tensor before = model.forward(ids).logits.data();
  std::vector<std::string> seen;
  auto hooked = hook_linears(model, [](const std::string& p) { return p.ends_with("down_proj"); },
                             [&](const std::string& path, const Var& in, const Var& out) {
                               seen.push_back(path);
                               CHECK(in.size(-1) == 32);
                               CHECK(out.size(-1) == 16);
                             });
  CHECK(hooked == std::vector<std::string>{"layers.0.mlp.down_proj", "layers.1.mlp.down_proj"});
  QS_CHECK_CLOSE(model.forward(ids).logits.data(), before, 0);
  CHECK(seen == hooked);
  unhook_linears(model);
  CHECK(dynamic_cast<Linear*>(&model.submodule("layers.1.mlp.down_proj")));
  CHECK(model.state_dict().count("layers.1.mlp.down_proj.weight"));
}
