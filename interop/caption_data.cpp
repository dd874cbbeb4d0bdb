#include "interop/caption_data.h"

#include "data/scienceqa.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "vision/image_io.h"
#include "vision/preprocess.h"

namespace qs::interop {

data::CaptionDataset llava_caption_dataset(const LlavaCaptionSource& s) {
  std::vector<data::LlavaRecord> records = data::load_llava_conversations(s.json);
  if (s.limit > 0 && static_cast<int64_t>(records.size()) > s.limit) records.resize(static_cast<std::size_t>(s.limit));
  QS_CHECK(!records.empty(), "{}: no records", s.json.string());
  vision::PreprocessConfig fit;
  fit.size = s.image_size;
  data::CaptionDataset out;
  out.images = engine::Tensor({static_cast<int64_t>(records.size()), s.image_size, s.image_size, 3}, engine::DType::u8);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const data::LlavaRecord& r = records[i];
    QS_CHECK(!r.image.empty(), "{}: record {} ('{}') has no image; projector alignment captions images",
             s.json.string(), i, r.id);
    QS_CHECK(r.conversations.size() >= 2, "{}: record {} ('{}') has no gpt turn to serve as the caption",
             s.json.string(), i, r.id);
    // LLaVA's plain template keeps the image and the answer; the human
    // turn's instruction ("Describe the image.") is dropped.
    out.captions.push_back(r.conversations[1].value);
    engine::copy_(out.images.select(0, static_cast<int64_t>(i)), vision::fit_image(vision::load_image(s.images / r.image), fit));
  }
  return out;
}

}  // namespace qs::interop
