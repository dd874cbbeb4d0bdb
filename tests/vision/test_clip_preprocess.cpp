// CLIP preprocessing against CLIPImageProcessor's recipe run with PIL
// (scripts/fixtures/make_clip_preprocess.py): resized pixels bit for bit,
// normalized values to float rounding.
#include <filesystem>

#include "engine/io/json_file.h"
#include "support.h"
#include "vision/image_io.h"
#include "vision/preprocess.h"

using namespace qs;
namespace e = qs::engine;

TEST_CASE("clip preprocessing: PIL's bicubic resize bit for bit, and the processor's pixels, padded or not") {
  const std::filesystem::path dir = std::filesystem::path(QS_FIXTURES) / "clip_preprocess";
  const e::Tensor image = vision::load_image(dir / "wide.png");
  REQUIRE(image.shape() == e::Shape{41, 67, 3});
  const nlohmann::json ref = e::read_json_file(dir / "reference.json");
  for (const char* name : {"shrink", "grow", "pad"}) {
    CAPTURE(name);
    const nlohmann::json& r = ref[name];
    const int64_t size = r["size"].get<int64_t>();
    vision::PreprocessConfig config{.size = size, .pad_to_square = std::string(name) == "pad"};
    e::Tensor src = image;
    if (config.pad_to_square) src = vision::pad_to_square(image, {122, 116, 104});  // int(mean * 255)
    const e::Tensor resized = vision::resize_short_side(src, size);
    CHECK(resized.shape() == r["resized_shape"].get<e::Shape>());
    CHECK(e::to_vector<int64_t>(resized.to(e::DType::i64)) == r["resized"].get<std::vector<int64_t>>());
    const e::Tensor pixels = vision::preprocess(image, config);
    QS_CHECK_CLOSE(pixels, e::from_vector(r["pixels"].get<std::vector<double>>(), {3, size, size}), 1e-5);
  }
}
