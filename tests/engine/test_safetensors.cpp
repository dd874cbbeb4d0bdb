#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "support.h"

using namespace qs::engine;
using qs::test::error_of;
using qs::test::has;

namespace {

namespace fs = std::filesystem;

// A file laid out by hand: the 8-byte length, `header` as given, then `data`.
fs::path raw_file(const fs::path& folder, const std::string& header, const std::string& data,
                  std::optional<uint64_t> claimed_length = std::nullopt) {
  fs::create_directories(folder);
  const fs::path p = folder / "raw.safetensors";
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  const uint64_t n = claimed_length.value_or(header.size());
  char length[8];
  std::memcpy(length, &n, 8);
  out.write(length, 8);
  out << header << data;
  return p;
}

std::string load_error(const fs::path& p) {
  return error_of([&] {
    SafetensorsFile f(p);
    for (const std::string& name : f.names()) f.load(name);
  });
}

}  // namespace

TEST_CASE("safetensors: every dtype, scalars, empty tensors and metadata round-trip") {
  const fs::path root = qs::test::temp_root("st_roundtrip");
  Generator g(3);
  std::map<std::string, Tensor> t;
  t["model.layers.0.self_attn.q_proj.weight"] = randn({3, 4}, g);
  t["f64"] = randn({2, 2}, g, DType::f64);
  t["bf16"] = randn({5}, g).to(DType::bf16);
  t["f16"] = randn({2, 3}, g).to(DType::f16);
  t["i32"] = from_vector<int32_t>({1, -2, 3});
  t["i64"] = from_vector<int64_t>({-(int64_t{1} << 40), 7});
  t["u8"] = from_vector<uint8_t>({0, 255});
  t["scalar"] = scalar(2.5);
  t["empty"] = zeros({0, 4});
  t["transposed"] = randn({3, 2}, g).t();
  const fs::path p = root / "m.safetensors";
  save_safetensors(p, t, {{"format", "pt"}});
  SafetensorsFile f(p);
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.names().size() == t.size());
  for (const auto& [name, want] : t) {
    CAPTURE(name);
    const Tensor got = f.load(name);
    CHECK(got.dtype() == want.dtype());
    CHECK(got.shape() == want.shape());
    CHECK(equal(got, want.contiguous()));
  }
  CHECK(f.entry("bf16").file_dtype == "BF16");
  // Half-precision weights widen on request, as an f32 model loads them.
  CHECK(equal(f.load("bf16", DType::f32), t["bf16"].to(DType::f32)));
  CHECK(has(error_of([&] { f.load("i32", DType::f32); }), "cannot load as f32"));
  CHECK(has(error_of([&] { f.entry("missing"); }), "no tensor named 'missing'"));
  // The data section starts 8-byte aligned, as Hugging Face's writer leaves it.
  std::ifstream in(p, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  CHECK(n % 8 == 0);
  fs::remove_all(root);
}

TEST_CASE("safetensors: a file written by hand to the specification reads as the specification says") {
  const fs::path root = qs::test::temp_root("st_spec");
  // I8 widens to i32; BOOL loads as u8; F16 bits 0x3c00 = 1.0 and 0xc000 = -2.0;
  // offsets need not follow the order of the header's keys.
  const std::string header =
      R"({"b":{"dtype":"I8","shape":[3],"data_offsets":[4,7]},)"
      R"("a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
      R"("c":{"dtype":"BOOL","shape":[1],"data_offsets":[7,8]},"__metadata__":{"k":"v"}})";
  const std::string data{'\x00', '\x3c', '\x00', '\xc0', '\xff', '\x01', '\x80', '\x01'};
  SafetensorsFile f(raw_file(root, header, data));
  CHECK(qs::test::values(f.load("a", DType::f32)) == std::vector<double>{1.0, -2.0});
  CHECK(f.load("b").dtype() == DType::i32);
  CHECK(qs::test::values(f.load("b")) == std::vector<double>{-1, 1, -128});
  CHECK(qs::test::values(f.load("c")) == std::vector<double>{1});
  CHECK(f.metadata().at("k") == "v");
  fs::remove_all(root);
}

TEST_CASE("safetensors: hostile headers are refused with the file and the tensor named, never read past the end") {
  const fs::path root = qs::test::temp_root("st_hostile");
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string eight(8, '\0');
  struct Case {
    const char* what;
    std::string header, data;
    std::optional<uint64_t> claimed;
    const char* message;
  };
  const Case cases[] = {
      {"header length past the end", ok, eight, 1000, "runs past the end"},
      {"header length above the cap", ok, eight, uint64_t{1} << 40, "above the"},
      {"header length near 2^64", ok, eight, ~uint64_t{0}, "above the"},
      {"not JSON", "{\"w\": [", eight, std::nullopt, "not valid JSON"},
      {"not an object", "[1, 2]", eight, std::nullopt, "not a JSON object"},
      {"unknown dtype", R"({"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", eight, std::nullopt,
       "tensor 'w': unknown dtype 'F8_E4M3'"},
      {"shape disagrees with offsets", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight,
       std::nullopt, "tensor 'w': shape [3] of F32 needs 12 bytes"},
      {"offsets past the data", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight, std::nullopt,
       "tensor 'w': data_offsets [0, 16] run past the 8 bytes"},
      {"offsets reversed", R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", eight, std::nullopt,
       "end before they begin"},
      {"overlapping tensors",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, std::nullopt, "overlaps tensor 'a'"},
      {"a hole in the data",
       R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})",
       eight, std::nullopt, "belong to no tensor"},
      {"unindexed bytes at the end", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight,
       std::nullopt, "last 4 bytes of data belong to no tensor"},
      {"negative dimension", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, std::nullopt,
       "not a non-negative integer"},
      {"shape overflowing 64 bits",
       R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", eight, std::nullopt,
       "overflows 64 bits"},
      {"byte count overflowing 64 bits", R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})",
       eight, std::nullopt, "more than 2^64"},
      {"missing key", R"({"w":{"dtype":"F32","shape":[2]}})", eight, std::nullopt, "no 'data_offsets'"},
      {"metadata not strings", R"({"__metadata__":{"n":3},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       eight, std::nullopt, "__metadata__ 'n' is not a string"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const fs::path p = raw_file(root, c.header, c.data, c.claimed);
    const std::string err = load_error(p);
    CHECK(has(err, c.message));
    CHECK(has(err, p.string()));
  }
  std::ofstream(root / "short.safetensors") << "abc";
  CHECK(has(load_error(root / "short.safetensors"), "too short"));
  CHECK(has(load_error(root / "absent.safetensors"), "cannot open safetensors file"));
  fs::remove_all(root);
}

TEST_CASE("safetensors: sharded checkpoints load through their index, and a bad index is refused") {
  const fs::path root = qs::test::temp_root("st_shards");
  Generator g(5);
  std::map<std::string, Tensor> t;
  for (int i = 0; i < 5; ++i) t[fmt::format("layers.{}.weight", i)] = randn({4, 4}, g);  // 64 bytes each
  save_safetensors_checkpoint(root / "sharded", t, 150);
  CHECK(fs::exists(root / "sharded" / "model-00003-of-00003.safetensors"));
  SafetensorsCheckpoint ck(root / "sharded");
  CHECK(ck.names().size() == 5);
  for (const auto& [name, want] : t) CHECK(equal(ck.load(name), want));
  CHECK(has(error_of([&] { ck.load("nope"); }), "no tensor named 'nope'"));
  // One shard: a single model.safetensors, no index.
  save_safetensors_checkpoint(root / "single", t, 1 << 20);
  CHECK(!fs::exists(root / "single" / "model.safetensors.index.json"));
  CHECK(equal(SafetensorsCheckpoint(root / "single").load("layers.2.weight"), t["layers.2.weight"]));

  auto write_index = [&](const std::string& text) {
    std::ofstream(root / "sharded" / "model.safetensors.index.json", std::ios::trunc) << text;
  };
  write_index(R"({"weight_map": {"x": "../../etc/passwd"}})");
  CHECK(has(error_of([&] { SafetensorsCheckpoint c(root / "sharded"); }), "not a file beside the index"));
  write_index(R"({"weight_map": {"layers.0.weight": "model-00002-of-00003.safetensors"}})");
  CHECK(has(error_of([&] { SafetensorsCheckpoint(root / "sharded").load("layers.0.weight"); }),
            "does not hold it"));
  write_index(R"({"metadata": {}})");
  CHECK(has(error_of([&] { SafetensorsCheckpoint c(root / "sharded"); }), "no 'weight_map' object"));
  CHECK(has(error_of([&] { SafetensorsCheckpoint c(root / "empty_folder_that_is_absent"); }),
            "cannot open"));
  fs::create_directories(root / "empty");
  CHECK(has(error_of([&] { SafetensorsCheckpoint c(root / "empty"); }), "holds neither"));
  fs::remove_all(root);
}

TEST_CASE("safetensors: a failed save leaves the previous file intact and no temporary behind") {
  const fs::path root = qs::test::temp_root("st_atomic");
  const fs::path p = root / "m.safetensors";
  save_safetensors(p, {{"a", from_vector<float>({1, 2})}});
  CHECK(has(error_of([&] { save_safetensors(p, {{"a", from_vector<float>({3})}, {"b", Tensor()}}); }),
            "tensor 'b' is undefined"));
  CHECK(qs::test::values(SafetensorsFile(p).load("a")) == std::vector<double>{1, 2});
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(root)) ++files;
  CHECK(files == 1);
  // A writer that fails half way (a full disk, a bad tensor) publishes nothing.
  CHECK(has(error_of([&] {
              write_file_atomically(p, [](const ByteSink& sink) {
                sink("half a file");
                qs::fail("the producer failed");
              });
            }),
            "the producer failed"));
  CHECK(qs::test::values(SafetensorsFile(p).load("a")) == std::vector<double>{1, 2});
  files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(root)) ++files;
  CHECK(files == 1);
  fs::remove_all(root);
}
