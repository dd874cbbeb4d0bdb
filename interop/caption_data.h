#pragma once
// LLaVA's pretraining data (e.g. blip_laion_cc_sbu_558k.json: records whose
// human turn holds "<image>" and whose gpt turn is the caption) as the
// image-caption pairs the align stage trains the projector on (align.source),
// each image padded and resized as LLaVA does, kept as u8 at the tower's size.
#include <filesystem>

#include "data/caption_dataset.h"

namespace qs::interop {

struct LlavaCaptionSource {
  std::filesystem::path json;
  std::filesystem::path images;  // the image folder the records' paths are relative to
  int64_t image_size = 336;
  int64_t limit = 0;  // the first this many records (0: all)
};
// Errors name the file and record: one without an image or without a gpt turn.
data::CaptionDataset llava_caption_dataset(const LlavaCaptionSource& source);

}  // namespace qs::interop
