#include "experiments/plot.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/io/atomic_file.h"

namespace qs::experiments {

namespace {

constexpr double kWidth = 720, kHeight = 420, kLeft = 70, kRight = 190, kTop = 40, kBottom = 50;
const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

std::string header(const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" font-size=\"15\">{3}</text>\n",
      kWidth, kHeight, kLeft, escape(title));
}

// Axes with 5 ticks on y between lo and hi.
std::string axes(double lo, double hi, const std::string& y_label, const std::string& x_label) {
  const double plot_h = kHeight - kTop - kBottom;
  std::string out = fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", kLeft, kTop, kHeight - kBottom);
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", kLeft, kHeight - kBottom, kWidth - kRight);
  for (int i = 0; i <= 4; ++i) {
    const double v = lo + (hi - lo) * i / 4.0, y = kHeight - kBottom - plot_h * i / 4.0;
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.3g}</text>\n", kLeft - 6, y + 4, v);
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\n", kLeft, y, kWidth - kRight, y);
  }
  out += fmt::format("<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">{}</text>\n",
                     kTop + plot_h / 2, kTop + plot_h / 2, escape(y_label));
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", kLeft + (kWidth - kLeft - kRight) / 2,
                     kHeight - 12, escape(x_label));
  return out;
}

}  // namespace

void write_line_chart(const std::filesystem::path& path, const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<Series>& series) {
  double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const Series& s : series) {
    for (auto [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  std::string svg = header(title) + axes(y0, y1, y_label, x_label);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.4g}</text>\n", kWidth - kRight, kHeight - kBottom + 16, x1);
  svg += fmt::format("<text x=\"{}\" y=\"{}\">{:.4g}</text>\n", kLeft, kHeight - kBottom + 16, x0);
  for (std::size_t i = 0; i < series.size(); ++i) {
    const char* color = kPalette[i % std::size(kPalette)];
    std::string pts;
    for (auto [x, y] : series[i].points) {
      if (!std::isfinite(y)) continue;
      pts += fmt::format("{:.1f},{:.1f} ", kLeft + plot_w * (x - x0) / (x1 - x0), kHeight - kBottom - plot_h * (y - y0) / (y1 - y0));
    }
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", color, pts);
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                       kWidth - kRight + 12, kTop + 18 * i + 4, color, kWidth - kRight + 30, kTop + 18 * i + 9,
                       escape(series[i].name));
  }
  engine::write_file_atomically(path, svg + "</svg>\n");
}

void write_bar_chart(const std::filesystem::path& path, const std::string& title, const std::string& y_label,
                     const std::vector<Bar>& bars, double reference, const std::string& reference_label) {
  double hi = reference > 0 ? reference : 0.0;
  for (const Bar& b : bars) {
    if (std::isfinite(b.value + b.error)) hi = std::max(hi, b.value + b.error);
  }
  hi = hi > 0 ? hi * 1.1 : 1.0;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  std::string svg = header(title) + axes(0.0, hi, y_label, "");
  const double slot = plot_w / std::max<std::size_t>(bars.size(), 1);
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double x = kLeft + slot * i + slot * 0.15, w = slot * 0.7;
    if (!std::isfinite(b.value)) {  // a diverged run: named, with no bar
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{} (nan)</text>\n", x + w / 2,
                         kHeight - kBottom + 16, escape(b.name));
      continue;
    }
    const double top = kHeight - kBottom - plot_h * b.value / hi;
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n", x, top, w,
                       kHeight - kBottom - top, kPalette[i % std::size(kPalette)]);
    if (b.error > 0) {
      const double cx = x + w / 2, ya = kHeight - kBottom - plot_h * (b.value + b.error) / hi,
                   yb = kHeight - kBottom - plot_h * (b.value - b.error) / hi;
      svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"black\"/>\n", cx, ya, yb);
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{:.1f}</text>\n", x + w / 2, top - 4, b.value);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n", x + w / 2,
                       kHeight - kBottom + 16, escape(b.name));
  }
  if (reference > 0) {
    const double y = kHeight - kBottom - plot_h * reference / hi;
    svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"gray\" stroke-dasharray=\"6,4\"/>\n", kLeft, y,
                       kWidth - kRight, y);
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\" fill=\"gray\">{}</text>\n",
                       kWidth - kRight, y - 4, escape(reference_label));
  }
  engine::write_file_atomically(path, svg + "</svg>\n");
}

}  // namespace qs::experiments
