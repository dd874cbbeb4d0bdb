#pragma once
// Small helpers shared by the test suites.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace qs::test {

using engine::DType;
using engine::Shape;
using engine::Tensor;

// A tensor from values given as doubles, in any dtype.
inline Tensor make(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32) {
  return engine::from_vector(values, shape).to(dtype);
}

inline std::vector<double> values(const Tensor& t) { return engine::to_vector<double>(t); }

// The message of the qs::Error that f throws, or "no error".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const qs::Error& e) {
    return e.what();
  }
  return "no error";
}
inline bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// An empty folder under the system temp dir, unique to this process and name.
inline std::filesystem::path temp_root(const std::string& name) {
  std::filesystem::path p = std::filesystem::temp_directory_path() / ("qslaw_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p;
}

// allclose with a message that shows both tensors when it fails.
#define QS_CHECK_CLOSE(a, b, tol)                                                         \
  do {                                                                                    \
    const auto qs_a_ = (a);                                                               \
    const auto qs_b_ = (b);                                                               \
    INFO("got      ", qs_a_.str());                                                       \
    INFO("expected ", qs_b_.str());                                                       \
    CHECK(qs::engine::allclose(qs_a_.to(qs::engine::DType::f64), qs_b_.to(qs::engine::DType::f64), (tol), (tol))); \
  } while (0)

}  // namespace qs::test
