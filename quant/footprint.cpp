#include "quant/footprint.h"

#include "quant/bf16_linear.h"
#include "quant/nf4_linear.h"
#include "quant/quant_linear.h"

namespace qs::quant {

namespace {
void visit(const nn::Module& m, WeightFootprint& f) {
  int64_t layer_bytes = -1, layer_params = 0;
  if (auto* q = dynamic_cast<const QuantLinear*>(&m)) {
    layer_bytes = q->weight_bytes();
    layer_params = q->in_features() * q->out_features();
  } else if (auto* h = dynamic_cast<const Bf16Linear*>(&m)) {
    layer_bytes = h->weight_bytes();
    layer_params = h->in_features() * h->out_features();
  } else if (auto* n = dynamic_cast<const Nf4Linear*>(&m)) {
    layer_bytes = n->weight().bytes();
    layer_params = n->in_features() * n->out_features();
  }
  if (layer_bytes >= 0) {
    f.quantized_bytes += layer_bytes;
    f.quantized_params += layer_params;
    f.total_bytes += layer_bytes;
    // A bias stays full precision.
    for (auto& [name, p] : m.named_parameters()) {
      if (name == "bias") f.total_bytes += static_cast<int64_t>(p.data().nbytes());
    }
    return;
  }
  for (auto& [name, p] : m.named_parameters()) {
    if (name.find('.') == std::string::npos) f.total_bytes += static_cast<int64_t>(p.data().nbytes());
  }
  for (auto& [name, child] : m.children()) visit(*child, f);
}
}  // namespace

WeightFootprint weight_footprint(const nn::Module& model) {
  WeightFootprint f;
  visit(model, f);
  return f;
}

}  // namespace qs::quant
