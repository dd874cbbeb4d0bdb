#include "quant/footprint.h"

#include "quant/bf16_linear.h"
#include "quant/nf4_linear.h"
#include "quant/quant_linear.h"

namespace qs::quant {

namespace {
// The compressed weight's bytes and parameter count of a quantized layer, or
// -1 for any other module.
std::pair<int64_t, int64_t> quantized_layer(const nn::Module& m) {
  if (auto* q = dynamic_cast<const QuantLinear*>(&m)) return {q->weight_bytes(), q->in_features() * q->out_features()};
  if (auto* h = dynamic_cast<const Bf16Linear*>(&m)) return {h->weight_bytes(), h->in_features() * h->out_features()};
  if (auto* n = dynamic_cast<const Nf4Linear*>(&m)) return {n->weight().bytes(), n->in_features() * n->out_features()};
  return {-1, 0};
}
}  // namespace

WeightFootprint weight_footprint(const nn::Module& model) {
  WeightFootprint f;
  for (auto& [path, m] : model.named_modules()) {
    const auto [layer_bytes, layer_params] = quantized_layer(*m);
    for (auto& [name, p] : m->named_parameters()) {
      if (name.find('.') != std::string::npos) continue;  // a child's: counted at the child
      // A quantized layer's own parameters are its compressed weight, but a bias stays full precision.
      if (layer_bytes < 0 || name == "bias") f.total_bytes += static_cast<int64_t>(p.data().nbytes());
    }
    if (layer_bytes >= 0) {
      f.quantized_bytes += layer_bytes;
      f.quantized_params += layer_params;
      f.total_bytes += layer_bytes;
    }
  }
  return f;
}

}  // namespace qs::quant
