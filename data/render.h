#pragma once
// The anti-aliased rasterizer of the shape world: a light, mildly noisy
// background and each object filled with its color, edges anti-aliased by
// 4x4 supersampling of coverage.
#include <array>

#include "data/scene.h"
#include "engine/tensor.h"

namespace qs::data {

// The RGB value of each color name.
std::array<uint8_t, 3> rgb(Color c);

// u8 (canvas, canvas, 3). `noise_seed` keys the background noise.
engine::Tensor render_scene(const Scene& scene, uint64_t noise_seed);

// Whether the point (x, y) lies inside the object's outline.
bool inside(const Object& o, double x, double y);

}  // namespace qs::data
