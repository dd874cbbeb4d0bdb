#include "cli/quantize.h"

#include <chrono>

#include "cli/weight_dtype.h"
#include "engine/error.h"
#include "interop/packed_llama.h"
#include "interop/quantized_llama.h"
#include "quant/footprint.h"

namespace qs::cli {

int quantize(const QuantizeRequest& r) {
  const engine::DType dtype = weight_dtype(r.dtype);
  QS_CHECK(std::filesystem::absolute(r.out) != std::filesystem::absolute(r.model),
           "the output folder {} is the input's; write the quantized model elsewhere", r.out.string());
  interop::QuantizeOnLoad options;
  options.spec = {.bits = r.bits, .group_size = r.group_size};
  options.grid_file = r.grid;
  const auto t0 = std::chrono::steady_clock::now();
  const interop::LoadedLlama m = interop::load_hf_llama_quantized(r.model, options);
  interop::save_packed_llama(*m.model, m.info, r.out, dtype);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const quant::WeightFootprint footprint = quant::weight_footprint(*m.model);
  fmt::print("{}: {} weights at {} bits in groups of {} ({:.2f} bits each with the grid), {:.2f} GB in memory; written "
             "to {} in {:.1f} s\n",
             r.model.string(), footprint.quantized_params, r.bits, r.group_size, footprint.quantized_bits_per_param(),
             static_cast<double>(footprint.total_bytes) / 1e9, r.out.string(), seconds);
  return 0;
}

}  // namespace qs::cli
