#include "experiments/dist_json.h"

#include <algorithm>

#include "engine/ops.h"

namespace qs::experiments {

namespace e = qs::engine;

std::string broadcast_text(e::dist::ProcessGroup& group, const std::string& text, int root) {
  if (group.size() == 1) return text;
  e::Tensor size = e::from_vector(std::vector<int64_t>{static_cast<int64_t>(text.size())});
  group.broadcast(size, root);
  const int64_t n = size.data<int64_t>()[0];
  e::Tensor bytes({std::max<int64_t>(n, 1)}, e::DType::u8);
  if (group.rank() == root) std::copy(text.begin(), text.end(), bytes.data<uint8_t>());
  group.broadcast(bytes, root);
  return std::string(reinterpret_cast<const char*>(bytes.data<uint8_t>()), static_cast<std::size_t>(n));
}

std::vector<nlohmann::json> all_gather_json(e::dist::ProcessGroup& group, const nlohmann::json& mine) {
  if (group.size() == 1) return {mine};
  const std::string text = mine.dump();
  // Lengths first; then every rank's bytes padded to the longest.
  const e::Tensor lengths = group.all_gather(e::from_vector(std::vector<int64_t>{static_cast<int64_t>(text.size())}));
  const int64_t* len = lengths.data<int64_t>();
  const int64_t longest = std::max<int64_t>(*std::max_element(len, len + group.size()), 1);
  e::Tensor padded = e::zeros({1, longest}, e::DType::u8);
  std::copy(text.begin(), text.end(), padded.data<uint8_t>());
  const e::Tensor all = group.all_gather(padded);
  std::vector<nlohmann::json> out;
  for (int r = 0; r < group.size(); ++r) {
    const char* p = reinterpret_cast<const char*>(all.data<uint8_t>()) + r * longest;
    out.push_back(nlohmann::json::parse(std::string(p, static_cast<std::size_t>(len[r]))));
  }
  return out;
}

}  // namespace qs::experiments
