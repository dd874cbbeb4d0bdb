#pragma once
// Weight memory of a model as deployed: packed codes, scales and zeros of
// quantized layers, full-precision bytes of everything else.
#include <cstdint>

#include "nn/module.h"

namespace qs::quant {

struct WeightFootprint {
  int64_t total_bytes = 0;
  int64_t quantized_params = 0;  // weights held by quantized layers
  int64_t quantized_bytes = 0;   // their storage
  double quantized_bits_per_param() const {
    return quantized_params ? 8.0 * static_cast<double>(quantized_bytes) / static_cast<double>(quantized_params) : 0.0;
  }
};

WeightFootprint weight_footprint(const nn::Module& model);

}  // namespace qs::quant
