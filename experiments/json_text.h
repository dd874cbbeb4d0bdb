#pragma once
// JSON as qslaw writes it to files: invalid UTF-8 (sample text of an
// undertrained model) is replaced rather than refused, and non-finite numbers
// become null, so writing results never aborts a run.
#include <nlohmann/json.hpp>
#include <string>

namespace qs::experiments {

inline std::string json_text(const nlohmann::json& value) {
  return value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// One line, for JSON Lines files.
inline std::string json_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace qs::experiments
