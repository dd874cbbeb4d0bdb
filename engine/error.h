#pragma once
// qs::Error: every user-facing failure (bad shape, dtype, index, config, file)
// is thrown as one of these, with a message naming the op and the operands.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace qs {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace qs

#define QS_CHECK(cond, ...)         \
  do {                              \
    if (!(cond)) ::qs::fail(__VA_ARGS__); \
  } while (0)
