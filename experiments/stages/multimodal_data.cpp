// SynthSQA samples as conversations with their images, batches, and the epoch
// sampler.
#include "experiments/stages/multimodal.h"

#include "data/random.h"
#include "data/scienceqa.h"
#include "engine/ops.h"
#include "vision/preprocess.h"

namespace qs::experiments {

namespace e = qs::engine;

data::Conversation sqa_conversation(const data::SqaQuestion& q, const LlavaSettings& llava) {
  // ScienceQA's own problems (sqa.source) in the official QCM-LEA format.
  if (q.kind == "scienceqa") {
    const std::string target = llava.target == data::AnswerTarget::lea
                                   ? data::qcm_lea_output(q.lecture, q.explanation, q.answer)
                                   : data::sqa_answer(q, llava.answer_format);
    return {{{data::qcm_input(q.question, q.context, q.choices), target}}, q.has_image, llava.system_prompt};
  }
  return {{{data::sqa_prompt(q), data::sqa_target(q, llava.answer_format, llava.target)}}, q.has_image,
          llava.system_prompt};
}

e::Tensor split_image(const data::SqaSplit& split, int64_t index) {
  const int64_t row = split.image_index[static_cast<std::size_t>(index)];
  return row < 0 ? e::Tensor() : split.images.select(0, row);
}

Sample sqa_sample(const data::SqaSplit& split, int64_t index, const MultimodalSetup& setup) {
  const data::SqaQuestion& q = split.questions[static_cast<std::size_t>(index)];
  return {setup.tok.conversation(sqa_conversation(q, setup.llava), data::Template::v1, setup.image_tokens(),
                                 setup.llava.max_len),
          split_image(split, index)};
}

ModelBatch make_batch(const std::vector<Sample>& samples) {
  std::vector<data::Encoded> encoded;
  std::vector<e::Tensor> images;
  for (const Sample& s : samples) {
    encoded.push_back(s.encoded);
    if (s.encoded.has_image) {
      QS_CHECK(s.image.defined(), "make_batch: a sample with image tokens has no image");
      images.push_back(s.image);
    }
  }
  ModelBatch b{data::collate(encoded), e::Tensor()};
  if (!images.empty()) b.images = normalized_images(images);
  return b;
}

e::Tensor normalized_images(const std::vector<e::Tensor>& images) {
  QS_CHECK(!images.empty(), "normalized_images: no images");
  const int64_t h = images[0].size(0), w = images[0].size(1);
  e::Tensor stacked({static_cast<int64_t>(images.size()), h, w, 3}, e::DType::u8);
  for (std::size_t i = 0; i < images.size(); ++i) e::copy_(stacked.select(0, static_cast<int64_t>(i)), images[i]);
  vision::PreprocessConfig pre;
  pre.size = h;
  return vision::normalize_batch(stacked, pre);
}

int64_t EpochSampler::at(int64_t k) {
  const int64_t epoch = k / n_;
  if (epoch != epoch_) {
    perm_.resize(static_cast<std::size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) perm_[static_cast<std::size_t>(i)] = i;
    data::Rng rng = data::Rng(seed_).fork(static_cast<uint64_t>(epoch));
    for (int64_t i = n_ - 1; i > 0; --i) std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(rng.below(i + 1))]);
    epoch_ = epoch;
  }
  return perm_[static_cast<std::size_t>(k % n_)];
}

}  // namespace qs::experiments
