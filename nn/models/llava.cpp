#include "nn/models/llava.h"

#include "autograd/functions.h"
#include "engine/ops.h"

namespace qs::nn {

namespace ag = qs::autograd;
namespace e = qs::engine;

Projector::Projector(const ProjectorConfig& c) : config_(c) {
  QS_CHECK(c.in > 0 && c.out > 0, "Projector: sizes must be positive, got {} -> {}", c.in, c.out);
  e::Generator gen(c.seed);
  if (c.type == "linear") {
    register_module("fc1", std::make_shared<Linear>(c.in, c.out, true, gen, c.init_std));
  } else if (c.type == "mlp2x_gelu") {
    register_module("fc1", std::make_shared<Linear>(c.in, c.out, true, gen, c.init_std));
    register_module("fc2", std::make_shared<Linear>(c.out, c.out, true, gen, c.init_std));
  } else {
    fail("Projector: unknown type '{}' (expected linear or mlp2x_gelu)", c.type);
  }
}

Var Projector::forward(const Var& x) {
  Var h = child<LinearLayer>("fc1").forward(x);
  if (config_.type == "linear") return h;
  return child<LinearLayer>("fc2").forward(ag::gelu(h));
}

Var splice_image_embeds(const Var& token_embeds, const Tensor& ids, int64_t image_id, const Var& image_embeds) {
  QS_CHECK(token_embeds.dim() == 3 && ids.dim() == 2 && ids.size(0) == token_embeds.size(0) &&
               ids.size(1) == token_embeds.size(1),
           "splice_image_embeds: embeddings {} do not match ids {}", e::describe(token_embeds.data()),
           e::describe(ids));
  const int64_t b = ids.size(0), t = ids.size(1), d = token_embeds.size(2);
  const Tensor flat_ids = ids.to(e::DType::i64).contiguous();
  const int64_t* id = flat_ids.data<int64_t>();
  // gather[p]: row p of the text embeddings, or B*T + row of the image embeddings.
  std::vector<int64_t> gather(static_cast<std::size_t>(b * t));
  int64_t image = 0;
  const int64_t n = image_embeds.defined() ? image_embeds.size(1) : 0;
  for (int64_t i = 0; i < b; ++i) {
    int64_t seen = 0;
    for (int64_t j = 0; j < t; ++j) {
      const int64_t p = i * t + j;
      if (id[p] != image_id) {
        gather[p] = p;
        continue;
      }
      QS_CHECK(image_embeds.defined(), "splice_image_embeds: sample {} has image tokens but no image was given", i);
      QS_CHECK(image < image_embeds.size(0), "splice_image_embeds: sample {} holds image tokens, but only {} images given",
               i, image_embeds.size(0));
      QS_CHECK(seen < n, "splice_image_embeds: sample {} holds more than the {} image tokens of one image", i, n);
      gather[p] = b * t + image * n + seen++;
    }
    if (seen > 0) {
      QS_CHECK(seen == n, "splice_image_embeds: sample {} holds {} image tokens, an image gives {}", i, seen, n);
      ++image;
    }
  }
  QS_CHECK(!image_embeds.defined() || image == image_embeds.size(0),
           "splice_image_embeds: {} images given, {} samples hold image tokens", image_embeds.size(0), image);
  if (image == 0) return token_embeds;
  QS_CHECK(image_embeds.dim() == 3 && image_embeds.size(2) == d,
           "splice_image_embeds: image embeddings {} must be (images, tokens, {})", e::describe(image_embeds.data()), d);
  Var rows = ag::concat({ag::reshape(token_embeds, {b * t, d}), ag::reshape(image_embeds, {image * n, d})}, 0);
  return ag::reshape(ag::index_select(rows, 0, e::from_vector(gather)), {b, t, d});
}

Llava::Llava(std::shared_ptr<VisionEncoder> vision, const ProjectorConfig& projector, std::shared_ptr<Llama> llm)
    : llm_(llm) {
  QS_CHECK(vision && llm, "Llava: needs a vision encoder and an LLM");
  QS_CHECK(projector.in == vision->feature_dim() && projector.out == llm->config().dim,
           "Llava: the projector maps {} -> {}, but the encoder gives {} features and the LLM takes width {}",
           projector.in, projector.out, vision->feature_dim(), llm->config().dim);
  register_module("vision", vision);
  register_module("projector", std::make_shared<Projector>(projector));
  register_module("llm", llm);
}

Var Llava::image_embeds(const Tensor& images_in) {
  // Images arrive from the data pipeline on the CPU; the encoder may be elsewhere.
  const std::vector<Var> ps = projector().parameters();
  const Tensor images = ps.empty() ? images_in : images_in.to(ps.front().data().device());
  Var feats;
  bool trainable = false;
  for (const Var& p : vision().parameters()) trainable = trainable || p.requires_grad();
  if (trainable) {
    feats = vision().features(Var(images));
  } else {
    autograd::NoGrad no_grad;
    feats = Var(vision().features(Var(images)).data());
  }
  return projector().forward(feats);
}

Var Llava::input_embeds(const Tensor& ids, const Tensor& images, const std::vector<int64_t>& image_of_sample) {
  Var tokens = llm().embed(ids);
  if (!images.defined() || images.size(0) == 0) return splice_image_embeds(tokens, ids, image_token_id, Var());
  Var embeds = image_embeds(images);
  if (!image_of_sample.empty()) {
    for (int64_t k : image_of_sample) {
      QS_CHECK(k >= 0 && k < images.size(0), "Llava::input_embeds: a sample shows image {}, but {} images were given", k,
               images.size(0));
    }
    embeds = ag::index_select(embeds, 0, e::from_vector(image_of_sample).to(embeds.data().device()));
  }
  return splice_image_embeds(tokens, ids, image_token_id, embeds);
}

LlmOutput Llava::forward(const Tensor& ids, const Tensor& images, const LlmForward& options,
                         const std::vector<int64_t>& image_of_sample) {
  return llm().forward_embeds(input_embeds(ids, images, image_of_sample), options);
}

std::vector<int64_t> Llava::generate(const std::vector<int64_t>& prompt, const Tensor& image,
                                     const GenerateOptions& options) {
  QS_CHECK(!prompt.empty(), "Llava::generate: the prompt is empty");
  autograd::NoGrad no_grad;
  const Tensor ids = e::from_vector(prompt, {1, static_cast<int64_t>(prompt.size())});
  return llm().generate_from_embeds(input_embeds(ids, image), options);
}

std::vector<std::vector<int64_t>> Llava::generate_batch(const std::vector<std::vector<int64_t>>& prompts,
                                                        const Tensor& images, const std::vector<int64_t>& image_of_sample,
                                                        const GenerateOptions& options) {
  QS_CHECK(!prompts.empty(), "Llava::generate_batch: no prompts");
  autograd::NoGrad no_grad;
  int64_t width = 0;
  for (const auto& p : prompts) {
    QS_CHECK(!p.empty(), "Llava::generate_batch: a prompt is empty");
    width = std::max<int64_t>(width, static_cast<int64_t>(p.size()));
  }
  const int64_t b = static_cast<int64_t>(prompts.size());
  // Padding is masked, so any embedding row serves, except the image
  // token's, which the splice would count as image positions (the original
  // LLaVA layout marks images with id 0).
  const int64_t filler = image_token_id == 0 ? 1 : 0;
  std::vector<int64_t> ids(static_cast<std::size_t>(b * width), filler);
  std::vector<uint8_t> pad(static_cast<std::size_t>(b * width), 1);
  for (int64_t i = 0; i < b; ++i) {
    const auto& p = prompts[static_cast<std::size_t>(i)];
    const int64_t lead = width - static_cast<int64_t>(p.size());
    for (std::size_t j = 0; j < p.size(); ++j) {
      ids[static_cast<std::size_t>(i * width + lead) + j] = p[j];
      pad[static_cast<std::size_t>(i * width + lead) + j] = 0;
    }
  }
  const Tensor id_tensor = e::from_vector(ids, {b, width});
  return llm().generate_batch_from_embeds(input_embeds(id_tensor, images, image_of_sample), e::from_vector(pad, {b, width}),
                                          options);
}

Tensor Llava::sequence_log_likelihood(const Tensor& ids, const Tensor& images, const Tensor& targets,
                                      int64_t ignore_index, const std::vector<int64_t>& image_of_sample) {
  return score_targets([&](const LlmForward& f) { return forward(ids, images, f, image_of_sample); }, ids, targets,
                       ignore_index,
                       "Llava::sequence_log_likelihood");
}

}  // namespace qs::nn
