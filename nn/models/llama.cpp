#include "nn/models/llama.h"

#include <algorithm>
#include <functional>
#include <numeric>

#include "autograd/functions.h"
#include "engine/ops.h"

namespace qs::nn {

namespace ag = qs::autograd;
namespace e = qs::engine;

int64_t LlamaConfig::hidden() const { return ffn_hidden > 0 ? ffn_hidden : llama_hidden_size(dim); }

Llama::Llama(const LlamaConfig& c) : Llama(c, BlockHook()) {}

Llama::Llama(const LlamaConfig& c, const BlockHook& on_block, bool random_init) : config_(c) {
  QS_CHECK(c.vocab_size > 0 && c.dim > 0 && c.n_layers > 0, "Llama: sizes must be positive");
  e::Generator gen(c.seed);
  const double std = random_init ? c.init_std : 0.0;
  InitConfig init{.std = std, .scaled_residual = c.scaled_residual_init, .n_layers = c.n_layers, .seed = c.seed};
  register_module("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.dim, gen, std));
  auto layers = register_module("layers", std::make_shared<ModuleList>());
  BlockConfig block;
  block.attn = AttentionConfig{.dim = c.dim,
                               .n_heads = c.n_heads,
                               .n_kv_heads = c.n_kv_heads,
                               .causal = true,
                               .rope = true,
                               .rope_theta = c.rope_theta,
                               .rope_linear_factor = c.rope_linear_factor};
  block.hidden = c.hidden();
  block.norm = NormKind::rms;
  block.mlp = MlpKind::swiglu;
  block.norm_eps = c.norm_eps;
  for (int64_t i = 0; i < c.n_layers; ++i) {
    auto built = std::make_shared<TransformerBlock>(block, gen, init);
    layers->append(built);
    if (on_block) on_block(i, *built);
  }
  register_module("norm", std::make_shared<RMSNorm>(c.dim, c.norm_eps));
  register_module("lm_head", std::make_shared<Linear>(c.dim, c.vocab_size, false, gen, std));
}

void Llama::set_checkpointing(bool on) {
  auto& layers = child<ModuleList>("layers");
  for (int64_t i = 0; i < layers.size(); ++i) layers.at<TransformerBlock>(i).checkpointing = on;
}

Var Llama::embed(const Tensor& ids) {
  QS_CHECK(ids.dim() == 2, "Llama: token ids must be (B, T), got {}", engine::describe(ids));
  return child<Embedding>("embed_tokens").forward(ids);
}

LlmOutput Llama::forward(const Tensor& ids, const LlmForward& options) {
  return forward_embeds(embed(ids), options);
}

LlmOutput Llama::forward_embeds(const Var& embeds, const LlmForward& options) {
  QS_CHECK(embeds.dim() == 3 && embeds.size(2) == config_.dim,
           "Llama: embeddings must be (B, T, {}), got {}", config_.dim,
           engine::describe(embeds.data()));
  const int64_t t = embeds.size(1);
  auto& layers = child<ModuleList>("layers");
  if (options.caches) {
    QS_CHECK(static_cast<int64_t>(options.caches->size()) == layers.size(),
             "Llama: {} KV caches given for {} layers", options.caches->size(), layers.size());
  }
  const int64_t past = options.caches ? (*options.caches)[0].length() : 0;
  // Positions go to the model's device once here, not in every RoPE call (on a
  // GPU each move is a synchronising copy; decoding does 2 per layer per token).
  Tensor positions = (options.positions.defined()
                          ? options.positions
                          : e::arange(static_cast<double>(past), static_cast<double>(past + t)))
                         .to(embeds.data().device());
  QS_CHECK(past + t <= config_.max_seq_len, "Llama: sequence of {} tokens exceeds max_seq_len {}",
           past + t, config_.max_seq_len);
  LlmOutput out;
  Var h = embeds;
  if (options.hidden_states) out.hidden_states.push_back(h);
  for (int64_t i = 0; i < layers.size(); ++i) {
    KVCache* cache = options.caches ? &(*options.caches)[i] : nullptr;
    h = layers.at<TransformerBlock>(i).forward(h, positions, cache, options.key_padding);
    if (options.hidden_states) out.hidden_states.push_back(h);
  }
  if (options.logit_rows.defined()) {
    QS_CHECK(options.logit_rows.dim() == 1 && options.logit_rows.dtype() == DType::i64,
             "Llama: logit_rows must be int64 (R), got {}", engine::describe(options.logit_rows));
    h = ag::index_select(ag::reshape(h, {-1, config_.dim}), 0, options.logit_rows.to(h.data().device()));
  }
  out.logits = child<LinearLayer>("lm_head").forward(child<NormLayer>("norm").forward(h));
  return out;
}

TargetRows target_rows(const Tensor& targets, int64_t ignore_index) {
  const Tensor flat = targets.reshape({-1}).to(e::Device::cpu()).to(DType::i64).contiguous();
  const int64_t* t = flat.data<int64_t>();
  std::vector<int64_t> rows, kept;
  for (int64_t i = 0; i < flat.numel(); ++i) {
    if (t[i] == ignore_index) continue;
    rows.push_back(i);
    kept.push_back(t[i]);
  }
  return {e::from_vector(rows), e::from_vector(kept).to(targets.device())};
}

Tensor score_targets(const std::function<LlmOutput(const LlmForward&)>& forward, const Tensor& ids,
                     const Tensor& targets, int64_t ignore_index, const char* who) {
  QS_CHECK(targets.dtype() == DType::i64 && targets.shape() == ids.shape(),
           "{}: targets must be i64 of the ids' shape {}, got {}", who, e::describe(ids), e::describe(targets));
  autograd::NoGrad no_grad;
  // Log-probabilities only where a target is scored: the LM head and the
  // softmax over the vocabulary on a few answer tokens, not every position.
  const TargetRows rows = target_rows(targets, ignore_index);
  const int64_t t = ids.size(1);
  Tensor out = e::zeros({ids.size(0)}, DType::f64);
  if (rows.rows.numel() == 0) return out;
  LlmForward f;
  f.logit_rows = rows.rows;
  const Tensor logp = e::log_softmax(forward(f).logits.data()).to(e::Device::cpu()).to(DType::f64).contiguous();
  const int64_t v = logp.size(-1);
  const int64_t* rp = rows.rows.data<int64_t>();
  const Tensor labels = rows.targets.to(e::Device::cpu()).contiguous();
  const int64_t* yp = labels.data<int64_t>();
  const double* lp = logp.data<double>();
  double* op = out.data<double>();
  for (int64_t i = 0; i < rows.rows.numel(); ++i) {
    const int64_t label = yp[i];
    QS_CHECK(label >= 0 && label < v, "{}: target {} at ({}, {}) is outside the vocabulary of {}", who, label,
             rp[i] / t, rp[i] % t, v);
    op[rp[i] / t] += lp[i * v + label];
  }
  return out;
}

Tensor Llama::sequence_log_likelihood(const Tensor& ids, const Tensor& targets, int64_t ignore_index) {
  return score_targets([&](const LlmForward& f) { return forward(ids, f); }, ids, targets, ignore_index,
                       "Llama::sequence_log_likelihood");
}

namespace {

// Picks the next token from one row of logits: argmax, or a temperature /
// top-k sample driven by a counter-based draw.
int64_t pick(const Tensor& logits_row, const GenerateOptions& o, uint64_t draw) {
  std::vector<float> z = e::to_vector<float>(logits_row);
  const int64_t v = static_cast<int64_t>(z.size());
  if (o.temperature <= 0.0) return std::max_element(z.begin(), z.end()) - z.begin();
  std::vector<int64_t> order(v);
  std::iota(order.begin(), order.end(), 0);
  const int64_t k = o.top_k > 0 ? std::min(o.top_k, v) : v;
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t a, int64_t b) { return z[a] > z[b]; });
  std::vector<double> p(k);
  double total = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    p[i] = std::exp((z[order[i]] - z[order[0]]) / o.temperature);
    total += p[i];
  }
  double u = e::uniform_f64(o.seed, draw) * total;
  for (int64_t i = 0; i < k; ++i) {
    u -= p[i];
    if (u <= 0.0) return order[i];
  }
  return order[k - 1];
}

}  // namespace

std::vector<int64_t> Llama::generate(const std::vector<int64_t>& prompt,
                                     const GenerateOptions& o) {
  QS_CHECK(!prompt.empty(), "generate: the prompt is empty");
  autograd::NoGrad no_grad;
  std::vector<int64_t> seq = prompt, produced;
  std::vector<KVCache> caches(config_.n_layers);
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    if (static_cast<int64_t>(seq.size()) >= config_.max_seq_len) break;
    Tensor logits;
    if (o.use_cache) {
      // The prompt on the first step, then one token at a time.
      std::vector<int64_t> fresh(seq.begin() + caches[0].length(), seq.end());
      LlmForward f;
      f.caches = &caches;
      logits = forward(e::from_vector(fresh, {1, static_cast<int64_t>(fresh.size())}), f).logits.data();
    } else {
      logits = forward(e::from_vector(seq, {1, static_cast<int64_t>(seq.size())})).logits.data();
    }
    int64_t next = pick(logits.select(0, 0).select(0, logits.size(1) - 1), o, static_cast<uint64_t>(step));
    seq.push_back(next);
    produced.push_back(next);
    if (next == o.eos_id) break;
  }
  return produced;
}

std::vector<int64_t> Llama::generate_from_embeds(const Var& prompt, const GenerateOptions& o) {
  QS_CHECK(prompt.dim() == 3 && prompt.size(0) == 1 && prompt.size(1) > 0,
           "generate_from_embeds: the prompt must be (1, T, D) with T > 0, got {}", engine::describe(prompt.data()));
  autograd::NoGrad no_grad;
  std::vector<KVCache> caches(config_.n_layers);
  LlmForward f;
  f.caches = &caches;
  Tensor logits = forward_embeds(prompt, f).logits.data();
  std::vector<int64_t> produced;
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    int64_t next = pick(logits.select(0, 0).select(0, logits.size(1) - 1), o, static_cast<uint64_t>(step));
    produced.push_back(next);
    if (next == o.eos_id || caches[0].length() >= config_.max_seq_len) break;
    logits = forward(e::from_vector(std::vector<int64_t>{next}, {1, 1}), f).logits.data();
  }
  return produced;
}

std::vector<std::vector<int64_t>> Llama::generate_batch_from_embeds(const Var& prompts, const Tensor& key_padding,
                                                                    const GenerateOptions& o) {
  QS_CHECK(prompts.dim() == 3 && prompts.size(1) > 0, "generate_batch_from_embeds: prompts must be (B, T, D), got {}",
           engine::describe(prompts.data()));
  const int64_t b = prompts.size(0), t = prompts.size(1);
  QS_CHECK(key_padding.dtype() == DType::u8 && key_padding.shape() == e::Shape({b, t}),
           "generate_batch_from_embeds: key_padding must be u8 ({}, {}), got {}", b, t, engine::describe(key_padding));
  autograd::NoGrad no_grad;
  std::vector<KVCache> caches(config_.n_layers);
  std::vector<int64_t> last(static_cast<std::size_t>(b));
  for (int64_t i = 0; i < b; ++i) last[static_cast<std::size_t>(i)] = i * t + t - 1;
  LlmForward f;
  f.caches = &caches;
  f.key_padding = key_padding.contiguous();
  f.logit_rows = e::from_vector(last);
  Tensor logits = forward_embeds(prompts, f).logits.data().to(e::Device::cpu());  // (B, V)
  std::vector<uint8_t> pad = e::to_vector<uint8_t>(f.key_padding);
  std::vector<std::vector<int64_t>> produced(static_cast<std::size_t>(b));
  std::vector<bool> done(static_cast<std::size_t>(b), false);
  f.logit_rows = Tensor();
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    std::vector<int64_t> next(static_cast<std::size_t>(b), o.eos_id >= 0 ? o.eos_id : 0);
    bool all_done = true;
    for (int64_t i = 0; i < b; ++i) {
      const std::size_t r = static_cast<std::size_t>(i);
      if (done[r]) continue;
      next[r] = pick(logits.select(0, i), o, static_cast<uint64_t>(step));
      produced[r].push_back(next[r]);
      done[r] = next[r] == o.eos_id;
      all_done = all_done && done[r];
    }
    if (all_done || caches[0].length() >= config_.max_seq_len) break;
    // The new column is a real key for every row (finished rows decode
    // filler that nothing reads).
    const int64_t s = caches[0].length();
    std::vector<uint8_t> grown(static_cast<std::size_t>(b * (s + 1)), 0);
    for (int64_t i = 0; i < b; ++i) {
      std::copy(pad.begin() + i * s, pad.begin() + (i + 1) * s, grown.begin() + i * (s + 1));
    }
    pad = std::move(grown);
    f.key_padding = e::from_vector(pad, {b, s + 1});
    logits = forward(e::from_vector(next, {b, 1}), f).logits.data().reshape({b, -1}).to(e::Device::cpu());
  }
  return produced;
}

}  // namespace qs::nn
