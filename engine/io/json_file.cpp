#include "engine/io/json_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/error.h"

namespace qs::engine {

nlohmann::json read_json_file(const std::filesystem::path& path, std::size_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  QS_CHECK(f, "cannot open {}: {}", path.string(), std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= max_bytes;) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  QS_CHECK(!failed, "cannot read {}", path.string());
  QS_CHECK(text.size() <= max_bytes, "{}: larger than the {} bytes a JSON file may have here", path.string(),
           max_bytes);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    // Parse again with exceptions for the position of the first error.
    try {
      const nlohmann::json again = nlohmann::json::parse(text);
      (void)again;
    } catch (const nlohmann::json::parse_error& e) {
      fail("{}: not valid JSON (at byte {})", path.string(), e.byte);
    }
    fail("{}: not valid JSON", path.string());
  }
  return value;
}

JsonObject::JsonObject(const nlohmann::json& value, std::string where) : value_(value), where_(std::move(where)) {
  QS_CHECK(value_.is_object(), "{}: expected a JSON object, got {}", where_, value_.type_name());
}

JsonObject JsonObject::read(const std::filesystem::path& path) { return JsonObject(read_json_file(path), path.string()); }

bool JsonObject::has(const std::string& key) const { return value_.contains(key) && !value_[key].is_null(); }

std::string JsonObject::at(const std::string& key) const { return fmt::format("{}: '{}'", where_, key); }

const nlohmann::json& JsonObject::get(const std::string& key, const char* expected) const {
  QS_CHECK(has(key), "{}: missing '{}' ({})", where_, key, expected);
  return value_[key];
}

int64_t JsonObject::integer(const std::string& key) const {
  const nlohmann::json& v = get(key, "an integer");
  QS_CHECK(v.is_number_integer(), "{} must be an integer, got {}", at(key), v.dump());
  if (v.is_number_unsigned()) {
    QS_CHECK(v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX), "{} is too large: {}", at(key), v.dump());
  }
  return v.get<int64_t>();
}

double JsonObject::number(const std::string& key) const {
  const nlohmann::json& v = get(key, "a number");
  QS_CHECK(v.is_number(), "{} must be a number, got {}", at(key), v.dump());
  return v.get<double>();
}

std::string JsonObject::string(const std::string& key) const {
  const nlohmann::json& v = get(key, "a string");
  QS_CHECK(v.is_string(), "{} must be a string, got {}", at(key), v.dump());
  return v.get<std::string>();
}

bool JsonObject::boolean(const std::string& key) const {
  const nlohmann::json& v = get(key, "true or false");
  QS_CHECK(v.is_boolean(), "{} must be true or false, got {}", at(key), v.dump());
  return v.get<bool>();
}

JsonObject JsonObject::object(const std::string& key) const {
  const nlohmann::json& v = get(key, "an object");
  QS_CHECK(v.is_object(), "{} must be an object, got {}", at(key), v.dump());
  return JsonObject(v, at(key));
}

const nlohmann::json& JsonObject::array(const std::string& key) const {
  const nlohmann::json& v = get(key, "an array");
  QS_CHECK(v.is_array(), "{} must be an array, got {}", at(key), v.type_name());
  return v;
}

int64_t JsonObject::integer_or(const std::string& key, int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}
double JsonObject::number_or(const std::string& key, double fallback) const {
  return has(key) ? number(key) : fallback;
}
std::string JsonObject::string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? string(key) : fallback;
}
bool JsonObject::boolean_or(const std::string& key, bool fallback) const {
  return has(key) ? boolean(key) : fallback;
}

}  // namespace qs::engine
