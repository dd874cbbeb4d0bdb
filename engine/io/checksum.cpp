#include "engine/io/checksum.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "engine/error.h"

namespace qs::engine {

namespace {

struct Digest {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  Digest() { QS_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, "SHA-256: cannot initialise OpenSSL's digest"); }
  void update(const void* data, std::size_t n) { QS_CHECK(EVP_DigestUpdate(ctx.get(), data, n) == 1, "SHA-256: update failed"); }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    QS_CHECK(EVP_DigestFinal_ex(ctx.get(), out, &n) == 1, "SHA-256: final failed");
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
      s += digits[out[i] >> 4];
      s += digits[out[i] & 15];
    }
    return s;
  }
};

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Digest d;
  d.update(bytes.data(), bytes.size());
  return d.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  QS_CHECK(in.good(), "cannot read {}: {}", path.string(), std::strerror(errno));
  Digest d;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) d.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  QS_CHECK(in.eof(), "reading {} failed", path.string());
  return d.hex();
}

}  // namespace qs::engine
