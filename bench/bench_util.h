#pragma once
// What every benchmark shares: medians of timed runs, and command-line
// numbers checked before anything is timed.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace qs::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) {
    std::fprintf(stderr, "benchmark: no timed runs to take a median of\n");
    std::exit(2);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A whole number in [lo, hi] from the command line, or a usage error (exit 2).
inline int int_arg(const char* text, const char* what, int lo, int hi) {
  char* end = nullptr;
  const long long n = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || n < lo || n > hi) {
    std::fprintf(stderr, "benchmark: %s must be a whole number in [%d, %d], got '%s'\n", what, lo, hi, text);
    std::exit(2);
  }
  return static_cast<int>(n);
}

}  // namespace qs::bench
