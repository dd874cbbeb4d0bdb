#pragma once
// Scenes of the shape world: 1-6 non-overlapping objects on a square canvas.
// The renderer (images) comes with the vision work; descriptions here are
// the text side, used by the corpus and later by captions.
#include <string>
#include <vector>

#include "data/knowledge.h"
#include "data/random.h"

namespace qs::data {

enum class Size { small, large };
std::string name(Size s);

struct Object {
  Shape shape;
  Color color;
  Size size;
  double x, y;    // centre, in pixels
  double radius;  // of the bounding circle, in pixels
  Pattern pattern = Pattern::plain;
};

struct Scene {
  int canvas = 64;
  std::vector<Object> objects;
};

struct SceneConfig {
  int canvas = 64;
  int min_objects = 1;
  int max_objects = 6;
  // Share of objects drawn with a pattern other than plain (striped,
  // spotted, hollow; the creatures' glyphs). 0 draws exactly the first
  // edition's scenes, random stream included.
  double patterned = 0.0;
};

Scene sample_scene(Rng& rng, const SceneConfig& config = {});

// The scene with one object (picked by rng) given a different shape: a near
// miss whose description is false of the original scene (hard negatives for
// contrastive training; its multiset of (color, shape) always differs).
Scene with_shape_swapped(const Scene& scene, Rng& rng);

// "left of", "right of", "above" or "below": where a is relative to b, by the
// larger of the horizontal and vertical offsets.
std::string relation(const Object& a, const Object& b);

// A true description of the scene: counts per (color, pattern, shape) group
// (plain is not said) and, with two or more groups, one spatial relation
// between them.
std::string describe_scene(const Scene& scene, Rng& rng);

}  // namespace qs::data
