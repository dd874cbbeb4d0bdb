#include <map>
#include <set>
#include <regex>

#include <filesystem>

#include "data/caption_dataset.h"
#include "data/render.h"
#include "data/scene.h"
#include "engine/ops.h"
#include "support.h"

using namespace qs::data;
namespace e = qs::engine;

namespace {
int number_from_word(const std::string& w) {
  if (w == "a" || w == "an") return 1;
  for (int n = 0; n <= 20; ++n) {
    if (number_word(n) == w) return n;
  }
  return -1;
}
}  // namespace

TEST_CASE("captions are true of their scenes (1,000 scenes, parsed back independently)") {
  Rng rng(42);
  std::regex group_re("(a|an|two|three|four|five|six) (red|green|blue|yellow|purple|orange) (circle|square|triangle|star|hexagon)s?");
  std::regex total_re("There (?:is|are) (\\w+) shapes? in total");
  std::regex rel_re("The (\\w+) (\\w+) is (left of|right of|above|below) the (\\w+) (\\w+)\\.");
  for (int i = 0; i < 1000; ++i) {
    Scene s = sample_scene(rng);
    std::string text = describe_scene(s, rng);
    CAPTURE(text);
    std::map<std::string, int> truth, said;
    for (const Object& o : s.objects) ++truth[name(o.color) + " " + name(o.shape)];
    for (std::sregex_iterator it(text.begin(), text.end(), group_re), end; it != end; ++it) {
      said[(*it)[2].str() + " " + (*it)[3].str()] += number_from_word((*it)[1]);
    }
    CHECK(said == truth);
    std::smatch m;
    REQUIRE(std::regex_search(text, m, total_re));
    CHECK(number_from_word(m[1]) == static_cast<int>(s.objects.size()));
    if (std::regex_search(text, m, rel_re)) {
      const Object *a = nullptr, *b = nullptr;
      for (const Object& o : s.objects) {
        if (name(o.color) == m[1].str() && name(o.shape) == m[2].str()) a = &o;
        if (name(o.color) == m[4].str() && name(o.shape) == m[5].str()) b = &o;
      }
      REQUIRE(a);
      REQUIRE(b);
      CHECK(relation(*a, *b) == m[3].str());
    }
  }
}

TEST_CASE("rendered scenes: objects in their colors on a light background") {
  Scene s;
  s.objects.push_back({Shape::circle, Color::red, Size::large, 16, 16, 9});
  s.objects.push_back({Shape::star, Color::blue, Size::large, 46, 46, 10});
  e::Tensor img = render_scene(s, 1);
  CHECK(img.shape() == e::Shape{64, 64, 3});
  auto px = [&](int x, int y) {
    return std::array<double, 3>{e::element_as_double(img, (y * 64 + x) * 3), e::element_as_double(img, (y * 64 + x) * 3 + 1),
                                 e::element_as_double(img, (y * 64 + x) * 3 + 2)};
  };
  CHECK(px(16, 16) == std::array<double, 3>{220, 40, 40});
  CHECK(px(46, 46) == std::array<double, 3>{40, 80, 220});
  auto corner = px(1, 62);
  CHECK(corner[0] > 225);
  CHECK(corner[0] == corner[2]);  // grey
  // Anti-aliasing: the circle's edge has pixels between background and red.
  bool blended = false;
  for (int y = 4; y < 29; ++y) {
    for (int x = 4; x < 29; ++x) {
      double g = px(x, y)[1];
      blended = blended || (g > 60 && g < 200);
    }
  }
  CHECK(blended);
  // Outline tests: a star's inner notch is outside, its tip inside.
  const Object& star = s.objects[1];
  CHECK(inside(star, 46, 46 - 9.5));
  CHECK(!inside(star, 46 + 5, 46 - 7));
}

TEST_CASE("caption datasets save to HDF5 and load back identical, scene graphs included") {
  CaptionDatasetConfig c;
  c.seed = 5;
  c.size = 12;
  c.scene.canvas = 32;
  CaptionDataset d = make_caption_dataset(c);
  auto dir = std::filesystem::temp_directory_path() / "qslaw_test_captions";
  std::filesystem::remove_all(dir);
  CaptionDataset first = cached_caption_dataset(c, dir);  // generated and saved
  CaptionDataset again = cached_caption_dataset(c, dir);  // loaded
  CHECK(e::equal(again.images, d.images));
  CHECK(again.captions == d.captions);
  REQUIRE(again.scenes.size() == d.scenes.size());
  for (std::size_t i = 0; i < d.scenes.size(); ++i) {
    REQUIRE(again.scenes[i].objects.size() == d.scenes[i].objects.size());
    for (std::size_t j = 0; j < d.scenes[i].objects.size(); ++j) {
      CHECK(again.scenes[i].objects[j].shape == d.scenes[i].objects[j].shape);
      CHECK(again.scenes[i].objects[j].color == d.scenes[i].objects[j].color);
      CHECK(again.scenes[i].objects[j].x == doctest::Approx(d.scenes[i].objects[j].x).epsilon(1e-6));
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a shape-swapped scene differs from its source in exactly one object's shape") {
  for (uint64_t i = 0; i < 500; ++i) {
    Rng rng = Rng(11).fork(i);
    const Scene s = sample_scene(rng);
    const Scene t = with_shape_swapped(s, rng);
    REQUIRE(t.objects.size() == s.objects.size());
    int changed = 0;
    std::multiset<std::pair<Color, Shape>> a, b;
    for (std::size_t k = 0; k < s.objects.size(); ++k) {
      const Object &o = s.objects[k], &p = t.objects[k];
      CHECK(o.color == p.color);
      CHECK(o.size == p.size);
      CHECK(o.x == p.x);
      changed += o.shape != p.shape;
      a.insert({o.color, o.shape});
      b.insert({p.color, p.shape});
    }
    CHECK(changed == 1);
    CHECK(a != b);  // so its description is false of the source scene
    Rng r1(3), r2(3);
    CHECK(describe_scene(s, r1) != describe_scene(t, r2));
  }
}
