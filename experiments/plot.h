#pragma once
// Minimal SVG charts for run reports: no plotting library is needed to read
// a run's curves in a browser.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace qs::experiments {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

void write_line_chart(const std::filesystem::path& path, const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<Series>& series);

struct Bar {
  std::string name;
  double value = 0.0, error = 0.0;  // error: half-height of the error bar
};

// `reference` (when finite) draws a dashed horizontal line labelled
// `reference_label`, e.g. the accuracy of a uniform guess.
void write_bar_chart(const std::filesystem::path& path, const std::string& title, const std::string& y_label,
                     const std::vector<Bar>& bars, double reference = -1.0, const std::string& reference_label = "");

}  // namespace qs::experiments
