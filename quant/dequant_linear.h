#pragma once
// y = x W^T for a weight that exists only in compressed form: W is
// dequantized a tile of output rows at a time (never whole), for the forward
// product and again for the input gradient; the weight gets no gradient.
#include <functional>

#include "autograd/var.h"

namespace qs::quant {

// Writes rows [r0, r0 + tile.size(0)) of W into tile, f32 (rows, in),
// contiguous, on the input's device.
using DequantRows = std::function<void(int64_t r0, const engine::Tensor& tile)>;

autograd::Var dequant_linear(const autograd::Var& x, int64_t in, int64_t out, DequantRows rows,
                             const char* name);

}  // namespace qs::quant
