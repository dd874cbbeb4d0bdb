#include <filesystem>
#include <fstream>

#include "engine/io/atomic_file.h"
#include "engine/io/checksum.h"
#include "support.h"

using namespace qs::engine;

TEST_CASE("SHA-256 matches the published test vectors, for bytes and for files") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto path = std::filesystem::temp_directory_path() / "qslaw_test_sha.bin";
  std::string big(3 << 20, 'a');  // spans several read buffers
  big[12345] = 'b';
  write_file_atomically(path, big);
  CHECK(sha256_file(path) == sha256_hex(big));
  big[12345] = 'a';
  CHECK(sha256_file(path) != sha256_hex(big));
  std::filesystem::remove(path);
  CHECK_THROWS_WITH_AS(sha256_file(path), doctest::Contains("qslaw_test_sha.bin"), qs::Error);
}

TEST_CASE("atomic writes use a private temporary and leave none behind") {
  const auto path = std::filesystem::temp_directory_path() / "qslaw_test_atomic.txt";
  CHECK(unique_temp_path(path) != unique_temp_path(path));
  write_file_atomically(path, "one");
  write_file_atomically(path, "two");
  std::ifstream in(path);
  std::string text;
  in >> text;
  CHECK(text == "two");
  for (const auto& e : std::filesystem::directory_iterator(path.parent_path()))
    CHECK(e.path().filename().string().find("qslaw_test_atomic.txt.tmp") == std::string::npos);
  std::filesystem::remove(path);
  CHECK_THROWS_WITH_AS(write_file_atomically("/proc/qslaw_no/x.txt", "x"), doctest::Contains("x.txt"), qs::Error);
}
