#pragma once
// JSON from files qslaw did not write (a checkpoint's config.json, a
// tokenizer.json, a dataset's records): read with a size cap, and read through
// getters whose errors name the file, the path to the value and what was
// expected, so a bad file is reported, never a crash or a silent default.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace qs::engine {

// The parsed file; errors name it (too large, unreadable, not JSON).
nlohmann::json read_json_file(const std::filesystem::path& path, std::size_t max_bytes = std::size_t{1} << 30);

// A JSON object and where it came from ("config.json", "problems.json: 'pid 12'").
class JsonObject {
 public:
  JsonObject(const nlohmann::json& value, std::string where);
  static JsonObject read(const std::filesystem::path& path);

  const std::string& where() const { return where_; }
  const nlohmann::json& json() const { return value_; }
  bool has(const std::string& key) const;  // present and not null

  // The value at `key`, which must be present (and not null) and of the type.
  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;  // integers are numbers too
  std::string string(const std::string& key) const;
  bool boolean(const std::string& key) const;
  JsonObject object(const std::string& key) const;
  const nlohmann::json& array(const std::string& key) const;

  // The same, or `fallback` where the key is absent or null.
  int64_t integer_or(const std::string& key, int64_t fallback) const;
  double number_or(const std::string& key, double fallback) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;
  bool boolean_or(const std::string& key, bool fallback) const;

  // "<where>: '<key>'", for messages about a value found but not usable.
  std::string at(const std::string& key) const;

 private:
  const nlohmann::json& get(const std::string& key, const char* expected) const;
  nlohmann::json value_;
  std::string where_;
};

}  // namespace qs::engine
