#include "autograd/functions.h"
#include "nn/models/llama.h"
#include "nn/optim/optimizer.h"
#include "support.h"

using namespace qs::nn;
namespace ag = qs::autograd;
namespace e = qs::engine;

namespace {
LlamaConfig tiny() {
  LlamaConfig c;
  c.vocab_size = 40;
  c.dim = 16;
  c.n_layers = 2;
  c.n_heads = 2;
  c.ffn_hidden = 32;
  c.max_seq_len = 32;
  c.seed = 5;
  return c;
}
}  // namespace

TEST_CASE("the default LLM has the sizes of BENCHMARK.md") {
  LlamaConfig c;
  CHECK(c.hidden() == 768);
  Llama model(c);
  // embed + head: 2 * 2048 * 256; per layer: 4 * 256^2 + 3 * 256 * 768 + 2 * 256; final norm 256
  const int64_t expected = 2 * 2048 * 256 + 8 * (4 * 256 * 256 + 3 * 256 * 768 + 2 * 256) + 256;
  CHECK(model.num_parameters() == expected);
  MESSAGE("default LLM parameters: " << model.num_parameters());
  CHECK(model.parameter("layers.3.attn.q_proj.weight").shape() == Shape{256, 256});
}

TEST_CASE("forward gives logits and per-layer hidden states - embeddings can be given directly") {
  Llama model(tiny());
  Tensor ids = e::from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  LlmForward opt;
  opt.hidden_states = true;
  LlmOutput out = model.forward(ids, opt);
  CHECK(out.logits.shape() == Shape{2, 4, 40});
  CHECK(out.hidden_states.size() == 3);
  Var emb = model.embed(ids);
  CHECK(e::equal(model.forward_embeds(emb).logits.data(), out.logits.data()));
}

TEST_CASE("cached and uncached generation give the same tokens") {
  Llama model(tiny());
  std::vector<int64_t> prompt{3, 1, 4, 1, 5};
  for (double temperature : {0.0, 0.8}) {
    GenerateOptions o;
    o.max_new_tokens = 12;
    o.temperature = temperature;
    o.top_k = 10;
    o.seed = 3;
    o.use_cache = true;
    auto cached = model.generate(prompt, o);
    o.use_cache = false;
    auto plain = model.generate(prompt, o);
    CHECK(cached.size() == 12);
    CHECK(cached == plain);
  }
}

TEST_CASE("a tiny LLM memorises a repeating sequence") {
  Llama model(tiny());
  std::vector<int64_t> seq;
  for (int i = 0; i < 17; ++i) seq.push_back((i * 7) % 11 + 2);
  Tensor all = e::from_vector(seq, {1, 17});
  Tensor inputs = all.slice(1, 0, 16), targets = all.slice(1, 1, 17).reshape({16});
  std::vector<std::pair<std::string, Var>> params = model.named_parameters();
  AdamW opt({ParamGroup{"all", params, 3e-2, 0.0}});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    Var logits = ag::reshape(model.forward(inputs).logits, {16, 40});
    Var loss = ag::cross_entropy(logits, targets);
    if (step == 0) first = loss.data().item<double>();
    last = loss.data().item<double>();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  MESSAGE("loss " << first << " -> " << last);
  CHECK(last < 0.1 * first);
  GenerateOptions o;
  o.max_new_tokens = 8;
  auto next = model.generate(std::vector<int64_t>(seq.begin(), seq.begin() + 8), o);
  CHECK(next == std::vector<int64_t>(seq.begin() + 8, seq.begin() + 16));
}

TEST_CASE("sequences longer than max_seq_len are refused") {
  Llama model(tiny());
  CHECK_THROWS_WITH_AS(model.forward(e::zeros({1, 33}, DType::i64)), doctest::Contains("max_seq_len"), qs::Error);
}

TEST_CASE("logits for the target rows only: the same loss and gradients as the full LM head") {
  Llama model(tiny());
  Tensor ids = e::from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5});
  Tensor targets = e::from_vector<int64_t>({-100, -100, 4, 5, -100, -100, 9, -100, 11, 12}, {2, 5});
  const TargetRows rows = target_rows(targets, -100);
  CHECK(e::to_vector<int64_t>(rows.rows) == std::vector<int64_t>{2, 3, 6, 8, 9});
  CHECK(e::to_vector<int64_t>(rows.targets) == std::vector<int64_t>{4, 5, 9, 11, 12});

  Var full = ag::cross_entropy(ag::reshape(model.forward(ids).logits, {10, 40}), targets.reshape({10}));
  full.backward();
  const Tensor head = model.parameter("lm_head.weight").grad().clone();
  const Tensor q = model.parameter("layers.0.attn.q_proj.weight").grad().clone();
  for (auto& [name, p] : model.named_parameters()) p.zero_grad();

  LlmForward f;
  f.logit_rows = rows.rows;
  Var logits = model.forward(ids, f).logits;
  CHECK(logits.shape() == Shape{5, 40});
  Var sparse = ag::cross_entropy(logits, rows.targets);
  sparse.backward();
  CHECK(sparse.data().item<double>() == doctest::Approx(full.data().item<double>()).epsilon(1e-6));
  QS_CHECK_CLOSE(model.parameter("lm_head.weight").grad(), head, 1e-6);
  QS_CHECK_CLOSE(model.parameter("layers.0.attn.q_proj.weight").grad(), q, 1e-6);

  f.logit_rows = e::from_vector<int64_t>({0, 10});
  CHECK_THROWS_AS(model.forward(ids, f), qs::Error);  // row 10 of 10 positions
}

TEST_CASE("sequence_log_likelihood sums the log-probabilities of the scored targets only") {
  Llama model(tiny());
  model.eval();
  const e::Tensor ids = e::from_vector(std::vector<int64_t>{1, 7, 3, 9, 2, 4, 4, 8, 0, 0}, {2, 5});
  const e::Tensor targets = e::from_vector(std::vector<int64_t>{-100, -100, 9, 2, 11, -100, 8, -100, -100, -100}, {2, 5});
  const std::vector<double> got = e::to_vector<double>(model.sequence_log_likelihood(ids, targets));
  // By hand, from the logits of every position.
  ag::NoGrad no_grad;
  const std::vector<double> logp = e::to_vector<double>(e::log_softmax(model.forward(ids).logits.data()).to(e::DType::f64));
  auto at = [&](int64_t b, int64_t t, int64_t v) { return logp[static_cast<std::size_t>((b * 5 + t) * 40 + v)]; };
  CHECK(got[0] == doctest::Approx(at(0, 2, 9) + at(0, 3, 2) + at(0, 4, 11)).epsilon(1e-5));
  CHECK(got[1] == doctest::Approx(at(1, 1, 8)).epsilon(1e-5));
  const e::Tensor none = e::full({2, 5}, -100.0, e::DType::i64);
  CHECK(e::to_vector<double>(model.sequence_log_likelihood(ids, none)) == std::vector<double>{0.0, 0.0});
  const e::Tensor outside = e::from_vector(std::vector<int64_t>{-100, 40, -100, -100, -100, -100, -100, -100, -100, -100}, {2, 5});
  CHECK(qs::test::has(qs::test::error_of([&] { model.sequence_log_likelihood(ids, outside); }),
                      "Llama::sequence_log_likelihood: target 40 at (0, 1) is outside the vocabulary of 40"));
}
