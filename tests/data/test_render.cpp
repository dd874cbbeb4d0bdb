#include <map>
#include <set>
#include <regex>

#include <filesystem>

#include "data/caption_dataset.h"
#include "data/render.h"
#include "data/scene.h"
#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "support.h"

using namespace qs::data;
namespace e = qs::engine;

namespace {
constexpr uint64_t kFirstEditionDigest = 6757823874320964487ull;

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

TEST_CASE("patterned caption datasets keep their patterns, and a corrupt scene graph is refused by name") {
  CaptionDatasetConfig c;
  c.seed = 6;
  c.size = 20;
  c.scene.canvas = 32;
  c.scene.patterned = 0.7;
  CaptionDatasetConfig plain = c;
  plain.scene.patterned = 0.0;
  CHECK(c.key() != plain.key());
  CHECK(plain.key() == "s6_n20_c32_o1-6_v1");  // the first edition's file names
  auto dir = qs::test::temp_root("captions_patterned");
  const CaptionDataset d = cached_caption_dataset(c, dir);
  const CaptionDataset again = cached_caption_dataset(c, dir);
  int patterned = 0;
  for (std::size_t i = 0; i < d.scenes.size(); ++i) {
    for (std::size_t j = 0; j < d.scenes[i].objects.size(); ++j) {
      CHECK(again.scenes[i].objects[j].pattern == d.scenes[i].objects[j].pattern);
      patterned += d.scenes[i].objects[j].pattern != Pattern::plain;
    }
  }
  CHECK(patterned > 10);
  const auto file = dir / ("captions_" + c.key() + ".h5");
  e::TensorFile f = e::load_tensor_file(file);
  f.tensors.at("scenes").data<float>()[6] = 9.0f;  // scene 0, object 0: pattern 9
  e::save_tensor_file(file, f);
  CHECK(qs::test::has(qs::test::error_of([&] { load_caption_dataset(file); }), "scene 0 has pattern 9"));
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

// The first edition's world must render and read exactly as before patterns
// existed: every cached caption set, SynthSQA file and reported number of it
// stays valid. The digest was taken before the change.
TEST_CASE("plain scenes render and are described exactly as in the first edition") {
  Rng rng(11);
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  for (int i = 0; i < 24; ++i) {
    Scene s = sample_scene(rng);
    const std::string text = describe_scene(s, rng);
    mix(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    e::Tensor img = render_scene(s, 1000 + static_cast<uint64_t>(i));
    mix(img.data<uint8_t>(), static_cast<std::size_t>(img.numel()));
  }
  MESSAGE("digest " << h);
  CHECK(h == kFirstEditionDigest);
}

TEST_CASE("patterned objects: described with their pattern, and drawn so the pattern shows") {
  SceneConfig c;
  c.patterned = 1.0;
  Rng rng(5);
  std::regex group_re("(a|an|two|three|four|five|six) (red|green|blue|yellow|purple|orange) (striped|spotted|hollow) "
                      "(circle|square|triangle|star|hexagon)s?");
  for (int i = 0; i < 300; ++i) {
    Scene s = sample_scene(rng, c);
    const std::string text = describe_scene(s, rng);
    std::map<std::string, int> truth, said;
    for (const Object& o : s.objects) {
      CHECK(o.pattern != Pattern::plain);
      ++truth[name(o.color) + " " + name(o.pattern) + " " + name(o.shape)];
    }
    for (std::sregex_iterator it(text.begin(), text.end(), group_re), end; it != end; ++it) {
      said[(*it)[2].str() + " " + (*it)[3].str() + " " + (*it)[4].str()] += number_from_word((*it)[1]);
    }
    CAPTURE(text);
    CHECK(said == truth);
  }
  // One large object of each pattern at the centre: the pixels inside its
  // outline show the color, white, or (hollow) the background in the middle.
  for (Pattern p : all_patterns()) {
    Scene s;
    s.objects.push_back(Object{Shape::square, Color::blue, Size::large, 32, 32, 16, p});
    e::Tensor img = render_scene(s, 3);
    const uint8_t* px = img.data<uint8_t>();
    int blue = 0, white = 0;
    for (int y = 22; y < 42; ++y) {
      for (int x = 22; x < 42; ++x) {
        const uint8_t* q = px + (y * 64 + x) * 3;
        blue += q[0] == 40 && q[1] == 80 && q[2] == 220;
        white += q[0] >= 248 && q[1] >= 248 && q[2] >= 248;
      }
    }
    const uint8_t* centre = px + (32 * 64 + 32) * 3;
    CAPTURE(name(p));
    CHECK(blue > 60);
    CHECK((white > 20) == (p == Pattern::striped || p == Pattern::spotted));
    const bool background = centre[2] < 250 && centre[0] > 200;  // light gray noise, not blue
    CHECK(background == (p == Pattern::hollow));
  }
}
