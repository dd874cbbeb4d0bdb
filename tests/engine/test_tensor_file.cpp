#include <filesystem>
#include <fstream>

#include "engine/io/tensor_file.h"
#include "engine/ops.h"
#include "support.h"

using namespace qs::engine;

namespace {
std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("qslaw_test_" + name);
}
}  // namespace

TEST_CASE("tensor files round-trip every dtype, scalars and attributes") {
  Generator g(1);
  TensorFile f;
  f.tensors["layers.0.attn.q_proj.weight"] = randn({3, 4}, g);
  f.tensors["pos"] = arange(0, 5);
  f.tensors["f64"] = randn({2}, g, DType::f64);
  f.tensors["i32"] = from_vector<int32_t>({1, -2});
  f.tensors["u8"] = from_vector<uint8_t>({0, 255});
  f.tensors["bf16"] = randn({4}, g).to(DType::bf16);
  f.tensors["step"] = scalar(7, DType::i64);
  f.tensors["non_contiguous"] = randn({3, 2}, g).t();
  f.attributes["config"] = "name: test\nlr: 0.1\n";
  f.attributes["empty"] = "";
  auto path = temp_path("roundtrip.h5");
  save_tensor_file(path, f);
  for (const auto& e : std::filesystem::directory_iterator(path.parent_path())) CHECK(e.path().string().find("roundtrip.h5.tmp") == std::string::npos);
  TensorFile back = load_tensor_file(path);
  CHECK(back.attributes == f.attributes);
  REQUIRE(back.tensors.size() == f.tensors.size());
  for (auto& [name, t] : f.tensors) {
    CAPTURE(name);
    CHECK(equal(back.tensors.at(name), t.contiguous()));
  }
  CHECK(back.tensors.at("step").dim() == 0);
  std::filesystem::remove(path);
}

TEST_CASE("corrupt, truncated and missing tensor files are refused with the file named") {
  auto path = temp_path("corrupt.h5");
  { std::ofstream(path) << "this is not hdf5"; }
  CHECK_THROWS_WITH_AS(load_tensor_file(path), doctest::Contains("not an HDF5 file"), qs::Error);
  TensorFile f;
  f.tensors["w"] = ones({256, 256});
  save_tensor_file(path, f);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  CHECK_THROWS_WITH_AS(load_tensor_file(path), doctest::Contains(path.string().c_str()), qs::Error);
  CHECK_THROWS_WITH_AS(load_tensor_file(temp_path("nope.h5")), doctest::Contains("no such file"), qs::Error);
  std::filesystem::remove(path);
}

TEST_CASE("a failed save leaves the previous file intact") {
  auto path = temp_path("keep.h5");
  TensorFile good;
  good.tensors["w"] = ones({2});
  save_tensor_file(path, good);
  TensorFile bad;
  bad.tensors["w"] = ones({2});
  bad.tensors["a/b"] = ones({2});  // '/' is refused mid-write
  CHECK_THROWS_AS(save_tensor_file(path, bad), qs::Error);
  CHECK(equal(load_tensor_file(path).tensors.at("w"), ones({2})));
  std::filesystem::remove(path);

}

TEST_CASE("a flipped bit in a tensor's data or in the file's metadata is refused, not loaded") {
  auto path = temp_path("flip.h5");
  TensorFile f;
  f.tensors["w"] = full({64, 64}, 1.25f);
  f.attributes["config"] = "lr: 0.1";
  save_tensor_file(path, f);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  float value = 1.25f;
  const std::string pattern(reinterpret_cast<const char*>(&value), sizeof(value));
  const std::size_t data_at = bytes.find(pattern);
  REQUIRE(data_at != std::string::npos);
  const std::size_t meta_at = bytes.find("lr: 0.1");
  REQUIRE(meta_at != std::string::npos);
  for (std::size_t at : {data_at + 2048, meta_at + 3}) {
    CAPTURE(at);
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    { std::ofstream(path, std::ios::binary | std::ios::trunc) << flipped; }
    CHECK_THROWS_WITH_AS(load_tensor_file(path), doctest::Contains(path.string().c_str()), qs::Error);
  }
  std::filesystem::remove(path);
}

TEST_CASE("a failed save leaves no temporary file behind") {
  auto path = temp_path("notmp.h5");
  TensorFile bad;
  bad.tensors["a/b"] = ones({2});
  CHECK_THROWS_AS(save_tensor_file(path, bad), qs::Error);
  for (const auto& e : std::filesystem::directory_iterator(path.parent_path()))
    CHECK(e.path().filename().string().find("notmp.h5") == std::string::npos);
}

TEST_CASE("a file found by fuzzing, whose stored type would make HDF5 allocate gigabytes, is refused first") {
  const std::filesystem::path path = std::filesystem::path(QS_FIXTURES) / "fuzz/tensor_file_huge_alloc.h5";
  CHECK_THROWS_WITH_AS(load_tensor_file(path), doctest::Contains("tensor_file_huge_alloc.h5"), qs::Error);
}

TEST_CASE("a file found by fuzzing, whose chunk index made HDF5's checksum filter read out of bounds, is refused first") {
  const std::filesystem::path path = std::filesystem::path(QS_FIXTURES) / "fuzz/tensor_file_chunk_index.h5";
  CHECK_THROWS_WITH_AS(load_tensor_file(path), doctest::Contains("tensor_file_chunk_index.h5"), qs::Error);
}
