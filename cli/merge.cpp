#include "cli/merge.h"

#include "cli/weight_dtype.h"
#include "engine/error.h"
#include "engine/io/json_file.h"
#include "interop/packed_llama.h"
#include "interop/peft_adapter.h"

namespace qs::cli {

int merge(const MergeRequest& r) {
  const engine::DType dtype = weight_dtype(r.dtype);
  QS_CHECK(std::filesystem::absolute(r.out) != std::filesystem::absolute(r.base),
           "the output folder {} is the base model's; write the merged model elsewhere", r.out.string());
  // qslaw's packed model (which may carry its adapter beside it) merges
  // dequantized; a plain checkpoint loads as it is.
  const bool packed = engine::JsonObject::read(r.base / "config.json").has("quantization_config");
  interop::LoadedLlama m = packed ? interop::load_packed_llama(r.base) : interop::load_hf_llama(r.base);
  std::size_t adapted = 0;
  if (!r.adapter.empty()) adapted = interop::load_peft_adapter(*m.model, r.adapter).size();
  interop::save_hf_llama(*m.model, m.info, r.out, dtype);
  fmt::print("{}{}: {} adapted linears merged; written to {} as {}\n", r.base.string(),
             r.adapter.empty() ? "" : " + " + r.adapter.string(), adapted, r.out.string(), r.dtype);
  return 0;
}

}  // namespace qs::cli
