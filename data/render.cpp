#include "data/render.h"

#include <cmath>
#include <vector>

namespace qs::data {

std::array<uint8_t, 3> rgb(Color c) {
  switch (c) {
    case Color::red: return {220, 40, 40};
    case Color::green: return {40, 170, 60};
    case Color::blue: return {40, 80, 220};
    case Color::yellow: return {235, 210, 40};
    case Color::purple: return {140, 60, 190};
    case Color::orange: return {245, 140, 30};
  }
  return {0, 0, 0};
}

namespace {

struct Point {
  double x, y;
};

// Regular polygon (or star, alternating radii) vertices around the centre,
// first vertex pointing up.
std::vector<Point> outline(const Object& o) {
  std::vector<Point> pts;
  auto add_ring = [&](int n, double r_outer, double r_inner) {
    const int count = r_inner > 0 ? 2 * n : n;
    for (int i = 0; i < count; ++i) {
      const double angle = -M_PI / 2 + 2 * M_PI * i / count;
      const double r = (r_inner > 0 && i % 2 == 1) ? r_inner : r_outer;
      pts.push_back({o.x + r * std::cos(angle), o.y + r * std::sin(angle)});
    }
  };
  switch (o.shape) {
    case Shape::triangle: add_ring(3, o.radius, 0); break;
    case Shape::hexagon: add_ring(6, o.radius, 0); break;
    case Shape::star: add_ring(5, o.radius, o.radius * 0.45); break;
    default: break;
  }
  return pts;
}

bool in_polygon(const std::vector<Point>& p, double x, double y) {
  bool in = false;
  for (std::size_t i = 0, j = p.size() - 1; i < p.size(); j = i++) {
    if ((p[i].y > y) != (p[j].y > y) && x < (p[j].x - p[i].x) * (y - p[i].y) / (p[j].y - p[i].y) + p[i].x) in = !in;
  }
  return in;
}

}  // namespace

bool inside(const Object& o, double x, double y) {
  switch (o.shape) {
    case Shape::circle: return std::hypot(x - o.x, y - o.y) <= o.radius;
    case Shape::square: {
      const double h = o.radius * 0.8;  // the square fits inside the bounding circle
      return std::abs(x - o.x) <= h && std::abs(y - o.y) <= h;
    }
    default: return in_polygon(outline(o), x, y);
  }
}

engine::Tensor render_scene(const Scene& scene, uint64_t noise_seed) {
  const int n = scene.canvas;
  engine::Tensor img({n, n, 3}, engine::DType::u8);
  uint8_t* p = img.data<uint8_t>();
  Rng noise(noise_seed);
  for (int i = 0; i < n * n; ++i) {
    const double v = 235.0 + 10.0 * (noise.uniform() - 0.5);
    for (int c = 0; c < 3; ++c) p[i * 3 + c] = static_cast<uint8_t>(v);
  }
  constexpr int kSub = 4;
  for (const Object& o : scene.objects) {
    const auto color = rgb(o.color);
    const int x0 = std::max(0, static_cast<int>(o.x - o.radius) - 1), x1 = std::min(n - 1, static_cast<int>(o.x + o.radius) + 1);
    const int y0 = std::max(0, static_cast<int>(o.y - o.radius) - 1), y1 = std::min(n - 1, static_cast<int>(o.y + o.radius) + 1);
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        int hits = 0;
        for (int sy = 0; sy < kSub; ++sy) {
          for (int sx = 0; sx < kSub; ++sx) {
            hits += inside(o, x + (sx + 0.5) / kSub, y + (sy + 0.5) / kSub);
          }
        }
        if (hits == 0) continue;
        const double a = static_cast<double>(hits) / (kSub * kSub);
        uint8_t* px = p + (y * n + x) * 3;
        for (int c = 0; c < 3; ++c) px[c] = static_cast<uint8_t>(std::lround(a * color[c] + (1 - a) * px[c]));
      }
    }
  }
  return img;
}

}  // namespace qs::data
