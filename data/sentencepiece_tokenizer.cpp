#include "data/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <fstream>
#include <iterator>

#include "engine/error.h"

namespace qs::data {

namespace {
// LLaMA's tokenizer.model is 500 kB, large vocabularies a few MB.
constexpr std::uintmax_t kMaxModelBytes = 64u << 20;
}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp,
                                               std::string origin)
    : sp_(std::move(sp)), origin_(std::move(origin)) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;
SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer& SentencePieceTokenizer::operator=(SentencePieceTokenizer&&) noexcept = default;

SentencePieceTokenizer SentencePieceTokenizer::load(const std::filesystem::path& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  QS_CHECK(!ec, "cannot read SentencePiece model {}: {}", path.string(), ec.message());
  QS_CHECK(size <= kMaxModelBytes, "{}: {} bytes is larger than a SentencePiece model may be here ({})",
           path.string(), size, kMaxModelBytes);
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  QS_CHECK(in.good() || in.eof(), "cannot read SentencePiece model {}", path.string());
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(bytes);
  QS_CHECK(status.ok(), "{}: not a SentencePiece model ({})", path.string(), status.ToString());
  QS_CHECK(sp->GetPieceSize() > 0, "{}: the SentencePiece model has an empty vocabulary", path.string());
  return SentencePieceTokenizer(std::move(sp), path.string());
}

std::vector<int64_t> SentencePieceTokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(absl::string_view(text.data(), text.size()), &ids);
  QS_CHECK(status.ok(), "{}: cannot encode text: {}", origin_, status.ToString());
  std::vector<int64_t> out;
  out.reserve(ids.size() + 2);
  if (add_bos && bos_id() >= 0) out.push_back(bos_id());
  out.insert(out.end(), ids.begin(), ids.end());
  if (add_eos && eos_id() >= 0) out.push_back(eos_id());
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> narrow;
  narrow.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    QS_CHECK(ids[i] >= 0 && ids[i] < vocab_size(), "{}: token {} at position {} is outside the vocabulary of {}",
             origin_, ids[i], i, vocab_size());
    narrow.push_back(static_cast<int>(ids[i]));
  }
  std::string text;
  const auto status = sp_->Decode(narrow, &text);
  QS_CHECK(status.ok(), "{}: cannot decode: {}", origin_, status.ToString());
  return text;
}

int64_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int64_t SentencePieceTokenizer::bos_id() const { return sp_->bos_id(); }
int64_t SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }
int64_t SentencePieceTokenizer::unk_id() const { return sp_->unk_id(); }
int64_t SentencePieceTokenizer::pad_id() const { return sp_->pad_id(); }

const std::string& SentencePieceTokenizer::piece(int64_t id) const {
  QS_CHECK(id >= 0 && id < vocab_size(), "{}: token {} is outside the vocabulary of {}", origin_, id, vocab_size());
  return sp_->IdToPiece(static_cast<int>(id));
}

int64_t SentencePieceTokenizer::piece_id(std::string_view piece) const {
  return sp_->PieceToId(absl::string_view(piece.data(), piece.size()));
}

}  // namespace qs::data
