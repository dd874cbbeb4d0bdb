#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_file.h"

namespace qs::engine {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader copies bytes as they are");

namespace {

using nlohmann::json;

// The reference implementation refuses headers above 100 MB; a real
// checkpoint's header is a few hundred kB.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

struct FileDType {
  const char* name;
  DType dtype;           // what it loads as
  std::size_t bytes;     // per element in the file
};
// I8/I16 widen to i32 when loaded (read_element below).
constexpr FileDType kFileDTypes[] = {
    {"F64", DType::f64, 8}, {"F32", DType::f32, 4}, {"F16", DType::f16, 2}, {"BF16", DType::bf16, 2},
    {"I64", DType::i64, 8}, {"I32", DType::i32, 4}, {"I16", DType::i32, 2}, {"I8", DType::i32, 1},
    {"U8", DType::u8, 1},   {"BOOL", DType::u8, 1}};

const FileDType* find_file_dtype(const std::string& name) {
  for (const FileDType& d : kFileDTypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const char* file_dtype_name(DType d) {
  switch (d) {
    case DType::f64: return "F64";
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i64: return "I64";
    case DType::i32: return "I32";
    case DType::u8: return "U8";
  }
  return "?";
}

// a * b, or nullopt when it does not fit in 64 bits.
std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return std::nullopt;
  return a * b;
}

SafetensorsEntry parse_entry(const std::string& where, const json& j) {
  QS_CHECK(j.is_object(), "{}: the entry is not a JSON object", where);
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    QS_CHECK(j.contains(key), "{}: the entry has no '{}'", where, key);
  }
  QS_CHECK(j["dtype"].is_string(), "{}: 'dtype' is not a string", where);
  SafetensorsEntry e;
  e.file_dtype = j["dtype"].get<std::string>();
  const FileDType* fd = find_file_dtype(e.file_dtype);
  QS_CHECK(fd, "{}: unknown dtype '{}' (known: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)", where,
           e.file_dtype);
  e.dtype = fd->dtype;
  QS_CHECK(j["shape"].is_array(), "{}: 'shape' is not an array", where);
  uint64_t count = 1;
  for (const json& d : j["shape"]) {
    QS_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
             "{}: shape {} has an entry that is not a non-negative integer", where, j["shape"].dump());
    const uint64_t n = d.get<uint64_t>();
    QS_CHECK(n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), "{}: shape {} is too large", where,
             j["shape"].dump());
    const auto next = checked_mul(count, n);
    QS_CHECK(next.has_value(), "{}: shape {} overflows 64 bits", where, j["shape"].dump());
    count = *next;
    e.shape.push_back(static_cast<int64_t>(n));
  }
  const json& off = j["data_offsets"];
  QS_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
           "{}: 'data_offsets' must be two non-negative integers, got {}", where, off.dump());
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  QS_CHECK(e.begin <= e.end, "{}: data_offsets {} end before they begin", where, off.dump());
  const auto bytes = checked_mul(count, fd->bytes);
  QS_CHECK(bytes.has_value() && *bytes == e.end - e.begin,
           "{}: shape {} of {} needs {} bytes but data_offsets {} hold {}", where, shape_str(e.shape), e.file_dtype,
           bytes ? fmt::to_string(*bytes) : std::string("more than 2^64"), off.dump(), e.end - e.begin);
  return e;
}

// Widens n little-endian signed integers of `width` bytes to int32.
void widen_signed(const uint8_t* src, std::size_t width, std::size_t n, int32_t* dst) {
  for (std::size_t i = 0; i < n; ++i) {
    if (width == 1) {
      int8_t v;
      std::memcpy(&v, src + i, 1);
      dst[i] = v;
    } else {
      int16_t v;
      std::memcpy(&v, src + 2 * i, 2);
      dst[i] = v;
    }
  }
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const std::string file = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  QS_CHECK(fd >= 0, "cannot open safetensors file {}: {}", file, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", file);
  }
  map_size_ = static_cast<std::size_t>(st.st_size);
  if (map_size_ > 0) {
    void* p = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    QS_CHECK(p != MAP_FAILED, "cannot map {}: {}", file, std::strerror(err));
    map_ = static_cast<const uint8_t*>(p);
  } else {
    ::close(fd);
  }
  try {
    QS_CHECK(map_size_ >= 8, "{}: {} bytes is too short for a safetensors file (8-byte header length first)",
             file, map_size_);
    uint64_t n = 0;
    std::memcpy(&n, map_, 8);
    QS_CHECK(n <= kMaxHeaderBytes, "{}: header length {} is above the {} byte limit", file, n, kMaxHeaderBytes);
    QS_CHECK(n <= map_size_ - 8, "{}: header length {} runs past the end of the {}-byte file", file, n, map_size_);
    data_start_ = 8 + static_cast<std::size_t>(n);
    json header = json::parse(map_ + 8, map_ + data_start_, nullptr, false);
    QS_CHECK(!header.is_discarded(), "{}: the header is not valid JSON", file);
    QS_CHECK(header.is_object(), "{}: the header is not a JSON object", file);
    const uint64_t data_size = map_size_ - data_start_;
    std::vector<std::pair<const std::string*, const SafetensorsEntry*>> by_offset;
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        QS_CHECK(it->is_object(), "{}: __metadata__ is not a JSON object", file);
        for (auto m = it->begin(); m != it->end(); ++m) {
          QS_CHECK(m->is_string(), "{}: __metadata__ '{}' is not a string", file, m.key());
          metadata_[m.key()] = m->get<std::string>();
        }
        continue;
      }
      const std::string where = fmt::format("{}: tensor '{}'", file, it.key());
      SafetensorsEntry e = parse_entry(where, *it);
      QS_CHECK(e.end <= data_size, "{}: data_offsets [{}, {}] run past the {} bytes of data", where, e.begin, e.end,
               data_size);
      auto [pos, inserted] = entries_.emplace(it.key(), std::move(e));
      by_offset.emplace_back(&pos->first, &pos->second);
    }
    // The data section must be exactly the tensors, back to back, in some order.
    std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
      return a.second->begin != b.second->begin ? a.second->begin < b.second->begin : a.second->end < b.second->end;
    });
    uint64_t covered = 0;
    const std::string* previous = nullptr;
    for (const auto& [name, e] : by_offset) {
      QS_CHECK(e->begin >= covered, "{}: tensor '{}' (bytes {}-{}) overlaps tensor '{}'", file, *name, e->begin,
               e->end, previous ? *previous : std::string());
      QS_CHECK(e->begin == covered, "{}: bytes {}-{} before tensor '{}' belong to no tensor", file, covered, e->begin,
               *name);
      covered = e->end;
      previous = name;
    }
    QS_CHECK(covered == data_size, "{}: the last {} bytes of data belong to no tensor", file, data_size - covered);
  } catch (...) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = entries_.find(name);
  QS_CHECK(it != entries_.end(), "{}: no tensor named '{}'", path_.string(), name);
  return it->second;
}

Tensor SafetensorsFile::load(const std::string& name, std::optional<DType> as) const {
  const SafetensorsEntry& e = entry(name);
  Tensor t(e.shape, e.dtype);
  const uint8_t* src = map_ + data_start_ + e.begin;
  const std::size_t bytes = e.end - e.begin;
  const FileDType* fd = find_file_dtype(e.file_dtype);
  if (fd->bytes == dtype_size(e.dtype)) {
    if (bytes > 0) std::memcpy(t.raw_data(), src, bytes);
  } else {
    widen_signed(src, fd->bytes, bytes / fd->bytes, t.data<int32_t>());
  }
  // The copy is all the caller keeps: give the mapped pages back, so reading
  // a checkpoint larger than memory does not count it as resident.
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t first = (data_start_ + e.begin + page - 1) / page * page, last = (data_start_ + e.end) / page * page;
  if (last > first) ::madvise(const_cast<uint8_t*>(map_) + first, last - first, MADV_DONTNEED);
  if (as && *as != t.dtype()) {
    QS_CHECK(is_floating(*as) == is_floating(t.dtype()), "{}: tensor '{}' is {} and cannot load as {}",
             path_.string(), name, e.file_dtype, dtype_name(*as));
    return t.to(*as);
  }
  return t;
}

namespace {

// The header for `headers` (sorted by name) laid out back to back, padded
// with spaces to a multiple of 8 bytes (so the data after it is aligned, as
// Hugging Face's writer does).
std::string header_for(const std::vector<TensorHeader>& headers, const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorHeader& h : headers) {
    QS_CHECK(h.name != "__metadata__", "save_safetensors: '__metadata__' cannot name a tensor");
    QS_CHECK(!header.contains(h.name), "save_safetensors: two tensors are named '{}'", h.name);
    const uint64_t bytes = h.bytes();
    header[h.name] = {{"dtype", file_dtype_name(h.dtype)}, {"shape", h.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

std::vector<TensorHeader> headers_of(const std::map<std::string, Tensor>& tensors) {
  std::vector<TensorHeader> out;
  for (const auto& [name, t] : tensors) {
    QS_CHECK(t.defined(), "save_safetensors: tensor '{}' is undefined", name);
    out.push_back({name, t.dtype(), t.shape()});
  }
  return out;
}

}  // namespace

void save_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, headers_of(tensors), [&](const TensorHeader& h) { return tensors.at(h.name); }, metadata);
}

void save_safetensors(const std::filesystem::path& path, std::vector<TensorHeader> headers, const TensorMaker& make,
                      const std::map<std::string, std::string>& metadata) {
  std::sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  const std::string header = header_for(headers, metadata);
  write_file_atomically(path, [&](const ByteSink& sink) {
    uint64_t n = header.size();
    char length[8];
    std::memcpy(length, &n, 8);
    sink(std::string_view(length, 8));
    sink(header);
    for (const TensorHeader& h : headers) {
      const Tensor host = make(h).to(Device::cpu()).contiguous();
      QS_CHECK(host.dtype() == h.dtype && host.shape() == h.shape, "save_safetensors: tensor '{}' was announced as {}{} but is {}",
               h.name, dtype_name(h.dtype), shape_str(h.shape), describe(host));
      sink(std::string_view(static_cast<const char*>(host.raw_data()), host.nbytes()));
    }
  });
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  fs::path p = path;
  if (fs::is_directory(p)) {
    if (fs::exists(p / "model.safetensors.index.json")) {
      p /= "model.safetensors.index.json";
    } else {
      QS_CHECK(fs::exists(p / "model.safetensors"),
               "{}: holds neither model.safetensors nor model.safetensors.index.json", path.string());
      p /= "model.safetensors";
    }
  }
  path_ = p;
  if (p.extension() != ".json") {
    auto file = std::make_unique<SafetensorsFile>(p);
    for (const std::string& name : file->names()) shard_of_[name] = p;
    open_[p] = std::move(file);
    return;
  }
  const json index = read_json_file(p, kMaxHeaderBytes);
  QS_CHECK(index.is_object(), "{}: not a JSON object", p.string());
  QS_CHECK(index.contains("weight_map") && index["weight_map"].is_object(), "{}: no 'weight_map' object",
           p.string());
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    QS_CHECK(it->is_string(), "{}: weight_map entry '{}' is not a file name", p.string(), it.key());
    const fs::path shard = it->get<std::string>();
    // Shards live beside the index; a path that climbs out of it is refused.
    QS_CHECK(!shard.empty() && shard.is_relative() && shard == shard.filename(),
             "{}: weight_map entry '{}' names '{}', which is not a file beside the index", p.string(), it.key(),
             shard.string());
    shard_of_[it.key()] = p.parent_path() / shard;
  }
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, shard] : shard_of_) out.push_back(name);
  return out;
}

const SafetensorsFile& SafetensorsCheckpoint::shard(const std::string& name) const {
  auto it = shard_of_.find(name);
  QS_CHECK(it != shard_of_.end(), "{}: no tensor named '{}'", path_.string(), name);
  auto& file = open_[it->second];
  if (!file) file = std::make_unique<SafetensorsFile>(it->second);
  QS_CHECK(file->contains(name), "{}: the index puts '{}' in {}, which does not hold it", path_.string(), name,
           it->second.string());
  return *file;
}

const SafetensorsEntry& SafetensorsCheckpoint::entry(const std::string& name) const {
  return shard(name).entry(name);
}

Tensor SafetensorsCheckpoint::load(const std::string& name, std::optional<DType> as) const {
  return shard(name).load(name, as);
}

void save_safetensors_checkpoint(const std::filesystem::path& folder, const std::map<std::string, Tensor>& tensors,
                                 uint64_t max_shard_bytes) {
  save_safetensors_checkpoint(folder, headers_of(tensors), [&](const TensorHeader& h) { return tensors.at(h.name); },
                              max_shard_bytes);
}

void save_safetensors_checkpoint(const std::filesystem::path& folder, std::vector<TensorHeader> headers,
                                 const TensorMaker& make, uint64_t max_shard_bytes) {
  QS_CHECK(max_shard_bytes > 0, "save_safetensors_checkpoint: max_shard_bytes must be positive");
  std::sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::vector<TensorHeader>> shards(1);
  uint64_t current = 0;
  for (const TensorHeader& h : headers) {
    const uint64_t bytes = h.bytes();
    if (current > 0 && current + bytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(h);
    current += bytes;
  }
  if (shards.size() == 1) {
    save_safetensors(folder / "model.safetensors", headers, make);
    return;
  }
  json weight_map = json::object();
  uint64_t total = 0;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
    save_safetensors(folder / file, shards[i], make);
    for (const TensorHeader& h : shards[i]) {
      weight_map[h.name] = file;
      total += static_cast<uint64_t>(numel_of(h.shape)) * dtype_size(h.dtype);
    }
  }
  const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  // The index goes last: a reader never sees an index naming a missing shard.
  write_file_atomically(folder / "model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace qs::engine
