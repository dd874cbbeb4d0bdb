#include "data/scene.h"

#include <cmath>
#include <map>
#include <tuple>

namespace qs::data {

std::string name(Size s) { return s == Size::small ? "small" : "large"; }

Scene sample_scene(Rng& rng, const SceneConfig& c) {
  QS_CHECK(c.min_objects >= 1 && c.max_objects >= c.min_objects && c.max_objects <= 6,
           "scene: object counts must satisfy 1 <= min <= max <= 6, got {}..{}", c.min_objects,
           c.max_objects);
  QS_CHECK(c.patterned >= 0 && c.patterned <= 1, "scene: patterned must be in [0, 1], got {}", c.patterned);
  Scene scene;
  scene.canvas = c.canvas;
  const int64_t target = rng.between(c.min_objects, c.max_objects);
  const double small_r = c.canvas * 0.09, large_r = c.canvas * 0.15;
  for (int attempt = 0; attempt < 400 && static_cast<int64_t>(scene.objects.size()) < target; ++attempt) {
    Object o;
    o.shape = rng.pick(all_shapes());
    o.color = rng.pick(all_colors());
    o.size = rng.chance(0.5) ? Size::small : Size::large;
    o.radius = o.size == Size::small ? small_r : large_r;
    o.x = o.radius + 1 + rng.uniform() * (c.canvas - 2 * o.radius - 2);
    o.y = o.radius + 1 + rng.uniform() * (c.canvas - 2 * o.radius - 2);
    // Only drawn when asked for, so a plain world keeps its random stream.
    if (c.patterned > 0 && rng.chance(c.patterned)) {
      o.pattern = all_patterns()[static_cast<std::size_t>(1 + rng.below(static_cast<int64_t>(all_patterns().size()) - 1))];
    }
    bool free = true;
    for (const Object& p : scene.objects) {
      free = free && std::hypot(o.x - p.x, o.y - p.y) > o.radius + p.radius + 1;
    }
    if (free) scene.objects.push_back(o);
  }
  return scene;
}

Scene with_shape_swapped(const Scene& scene, Rng& rng) {
  QS_CHECK(!scene.objects.empty(), "with_shape_swapped: the scene has no objects");
  Scene out = scene;
  Object& o = out.objects[static_cast<std::size_t>(rng.below(static_cast<int64_t>(out.objects.size())))];
  const auto& shapes = all_shapes();
  const int64_t k = static_cast<int64_t>(shapes.size());
  // One of the other k - 1 shapes, uniformly.
  o.shape = shapes[static_cast<std::size_t>((static_cast<int64_t>(o.shape) + 1 + rng.below(k - 1)) % k)];
  return out;
}

std::string relation(const Object& a, const Object& b) {
  const double dx = a.x - b.x, dy = a.y - b.y;
  if (std::abs(dx) >= std::abs(dy)) return dx < 0 ? "left of" : "right of";
  return dy < 0 ? "above" : "below";  // y grows downwards, as in images
}

namespace {

// "a red star", "two orange striped circles": plain is not said, so plain
// scenes read as they always did.
std::string count_phrase(int n, Color c, Pattern p, Shape s) {
  const std::string look = name(c) + (p == Pattern::plain ? "" : " " + name(p));
  if (n == 1) return std::string(c == Color::orange ? "an " : "a ") + look + " " + name(s);
  return number_word(n) + " " + look + " " + plural(s);
}

std::string label(const Object& o) {
  return name(o.color) + (o.pattern == Pattern::plain ? "" : " " + name(o.pattern)) + " " + name(o.shape);
}

std::string join_list(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? " and " : ", ";
    out += parts[i];
  }
  return out;
}

}  // namespace

std::string describe_scene(const Scene& scene, Rng& rng) {
  std::map<std::tuple<Color, Shape, Pattern>, std::vector<const Object*>> groups;
  for (const Object& o : scene.objects) groups[{o.color, o.shape, o.pattern}].push_back(&o);
  std::vector<std::string> parts;
  for (auto& [key, objs] : groups) {
    parts.push_back(count_phrase(static_cast<int>(objs.size()), std::get<0>(key), std::get<2>(key), std::get<1>(key)));
  }
  static const std::vector<std::string> openers{"There is ", "The picture shows ", "I see ", "We can see "};
  std::string text = rng.pick(openers) + join_list(parts) + ".";
  const int n = static_cast<int>(scene.objects.size());
  text += " There " + std::string(n == 1 ? "is " : "are ") + number_word(n) + (n == 1 ? " shape" : " shapes") + " in total.";
  // One relation between two single objects of different groups, if any.
  std::vector<const Object*> singles;
  for (auto& [key, objs] : groups) {
    if (objs.size() == 1) singles.push_back(objs[0]);
  }
  if (singles.size() >= 2) {
    const Object* a = singles[static_cast<std::size_t>(rng.below(static_cast<int64_t>(singles.size())))];
    const Object* b = a;
    while (b == a) b = singles[static_cast<std::size_t>(rng.below(static_cast<int64_t>(singles.size())))];
    text += " The " + label(*a) + " is " + relation(*a, *b) + " the " + label(*b) + ".";
  }
  return text;
}

}  // namespace qs::data
