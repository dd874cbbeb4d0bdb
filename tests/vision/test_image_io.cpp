#include <filesystem>
#include <fstream>

#include "data/render.h"
#include "engine/ops.h"
#include "support.h"
#include "vision/image_io.h"

using namespace qs::vision;
namespace e = qs::engine;
namespace fs = std::filesystem;

TEST_CASE("PNG images round-trip exactly") {
  qs::data::Rng rng(1);
  e::Tensor img = qs::data::render_scene(qs::data::sample_scene(rng), 7);
  fs::path path = fs::temp_directory_path() / "qslaw_test_scene.png";
  save_png(path, img);
  CHECK(e::equal(load_image(path), img));
  // A non-contiguous view (a crop) is saved as what it shows.
  e::Tensor crop = img.slice(0, 8, 40).slice(1, 4, 60);
  save_png(path, crop);
  CHECK(e::equal(load_image(path), crop.contiguous()));
  fs::remove(path);
}

TEST_CASE("corrupt, missing and wrongly shaped images are refused with the file named") {
  fs::path path = fs::temp_directory_path() / "qslaw_test_corrupt.png";
  { std::ofstream(path) << "\x89PNG not really"; }
  CHECK_THROWS_WITH_AS(load_image(path), doctest::Contains("cannot decode"), qs::Error);
  CHECK_THROWS_WITH_AS(load_image(path.string() + ".missing"), doctest::Contains("no such file"), qs::Error);
  CHECK_THROWS_WITH_AS(save_png(path, e::zeros({4, 4})), doctest::Contains("u8 (H, W, 3)"), qs::Error);
  fs::remove(path);
}
