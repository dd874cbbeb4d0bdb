#pragma once
// Argument checks shared by the op families' engine/ops_<family>.cpp files.
#include <optional>

#include "engine/tensor.h"

namespace qs::engine::checks {

// x is defined and in a dtype the op computes in on its device.
void floating(const char* op, const Tensor& x, const char* what);
void same_shape(const char* op, const Tensor& a, const Tensor& b);
// An integer index tensor as contiguous i64 on `dev`, every entry checked
// against [0, n) (entries equal to `allowed` are exempt: the ignore index).
// Index tensors may live on the CPU while the data is on a GPU: they are
// host-side bookkeeping (token ids, targets, positions) and move over here.
Tensor indices(const char* op, const Tensor& idx, int64_t n, const char* what, Device dev,
               std::optional<int64_t> allowed = std::nullopt);

}  // namespace qs::engine::checks
