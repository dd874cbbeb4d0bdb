#include "data/render.h"

#include <cmath>
#include <optional>
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

namespace {

// What a patterned object paints at a point inside its outline: its color,
// white (stripes and spots) or nothing (the hollow interior).
std::optional<std::array<uint8_t, 3>> pattern_color(const Object& o, double x, double y) {
  static const std::array<uint8_t, 3> kWhite{250, 250, 250};
  const double u = (x - o.x) / o.radius, v = (y - o.y) / o.radius;  // in [-1, 1]
  switch (o.pattern) {
    case Pattern::striped:  // four diagonal bands across any size
      return std::fmod(std::floor((u + v + 4.0) * 2.2), 2.0) < 1.0 ? rgb(o.color) : kWhite;
    case Pattern::spotted: {  // white dots on a 3 x 3 lattice
      const double cu = std::round(u * 1.6) / 1.6, cv = std::round(v * 1.6) / 1.6;
      return std::hypot(u - cu, v - cv) < 0.2 ? kWhite : rgb(o.color);
    }
    case Pattern::hollow: {  // a thick outline
      Object inner = o;
      inner.radius = o.radius * 0.55;
      if (inside(inner, x, y)) return std::nullopt;
      return rgb(o.color);
    }
    case Pattern::plain: break;
  }
  return rgb(o.color);
}

// The anti-aliased fill of a patterned object: 4 x 4 samples per pixel, each
// painting its own color (or nothing), blended by coverage.
void paint_patterned(const Object& o, uint8_t* p, int n) {
  constexpr int kSub = 4;
  const int x0 = std::max(0, static_cast<int>(o.x - o.radius) - 1), x1 = std::min(n - 1, static_cast<int>(o.x + o.radius) + 1);
  const int y0 = std::max(0, static_cast<int>(o.y - o.radius) - 1), y1 = std::min(n - 1, static_cast<int>(o.y + o.radius) + 1);
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      int hits = 0;
      std::array<double, 3> sum{0, 0, 0};
      for (int sy = 0; sy < kSub; ++sy) {
        for (int sx = 0; sx < kSub; ++sx) {
          const double px = x + (sx + 0.5) / kSub, py = y + (sy + 0.5) / kSub;
          if (!inside(o, px, py)) continue;
          const auto c = pattern_color(o, px, py);
          if (!c) continue;
          ++hits;
          for (int k = 0; k < 3; ++k) sum[k] += (*c)[k];
        }
      }
      if (hits == 0) continue;
      uint8_t* px = p + (y * n + x) * 3;
      const double a = static_cast<double>(hits) / (kSub * kSub);
      for (int k = 0; k < 3; ++k) px[k] = static_cast<uint8_t>(std::lround(sum[k] / (kSub * kSub) + (1 - a) * px[k]));
    }
  }
}

}  // namespace

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
    if (o.pattern != Pattern::plain) {
      paint_patterned(o, p, n);
      continue;
    }
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
