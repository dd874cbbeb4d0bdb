#pragma once
// safetensors, the Hugging Face checkpoint format: an 8-byte little-endian
// header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data
// that follows the header) plus an optional "__metadata__" string map, then
// the tensors' bytes, row-major, little-endian.
//
// Files come from outside, so the header is untrusted: it is parsed and every
// entry checked against the file (size cap, JSON, known dtype, byte size of
// the shape equal to its offsets, offsets inside the data, no overlap and no
// hole) before any tensor is read; errors name the file and the tensor.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace qs::engine {

// A tensor's record in the header. `dtype` is the engine dtype it loads as:
// F32, F64, F16, BF16, U8, I32, I64 and BOOL (as u8) keep their bytes; I8 and
// I16 widen to i32 (the engine has no narrower signed integer).
struct SafetensorsEntry {
  std::string file_dtype;  // as the header spells it ("BF16", ...)
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
};

// One .safetensors file, memory-mapped read-only; tensors are copied out one
// at a time, so reading a layer costs that layer's memory, not the file's.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  const SafetensorsEntry& entry(const std::string& name) const;  // errors name the file
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // A fresh CPU tensor holding `name`, in its own dtype or converted to `as`.
  Tensor load(const std::string& name, std::optional<DType> as = std::nullopt) const;

 private:
  std::filesystem::path path_;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
  const uint8_t* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::size_t data_start_ = 0;
};

// Writes `tensors` (any device; contiguous copies are made) with their names
// and `metadata` to `path` atomically: a crash leaves the old file or the new.
void save_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The same for tensors made one at a time (a checkpoint larger than memory):
// the header is written from `headers`, then make(h) is called for each in
// name order and must return a tensor of that shape and dtype.
struct TensorHeader {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t bytes() const { return static_cast<uint64_t>(numel_of(shape)) * dtype_size(dtype); }
};
using TensorMaker = std::function<Tensor(const TensorHeader&)>;
void save_safetensors(const std::filesystem::path& path, std::vector<TensorHeader> headers, const TensorMaker& make,
                      const std::map<std::string, std::string>& metadata = {});

// A checkpoint as Hugging Face lays it out: one model.safetensors, or shards
// listed by model.safetensors.index.json ({"weight_map": {name: file}}).
// `path` is the file, the index, or a folder holding either. Shards open on
// first use and stay mapped.
class SafetensorsCheckpoint {
 public:
  explicit SafetensorsCheckpoint(const std::filesystem::path& path);
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return shard_of_.count(name) > 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  Tensor load(const std::string& name, std::optional<DType> as = std::nullopt) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  const SafetensorsFile& shard(const std::string& name) const;

  std::filesystem::path path_;
  std::map<std::string, std::filesystem::path> shard_of_;
  mutable std::map<std::filesystem::path, std::unique_ptr<SafetensorsFile>> open_;
};

// Writes `tensors` as shards of at most `max_shard_bytes` each
// (model-00001-of-0000N.safetensors ...) plus model.safetensors.index.json in
// `folder`; one shard is written as model.safetensors without an index.
void save_safetensors_checkpoint(const std::filesystem::path& folder,
                                 const std::map<std::string, Tensor>& tensors, uint64_t max_shard_bytes);
void save_safetensors_checkpoint(const std::filesystem::path& folder, std::vector<TensorHeader> headers,
                                 const TensorMaker& make, uint64_t max_shard_bytes);

}  // namespace qs::engine
