#pragma once
// Divergence checks on whole states (parameters, optimizer moments): a
// non-finite value stops the run naming the tensor, before anything is saved.
#include <map>
#include <optional>
#include <string>

#include "engine/tensor.h"

namespace qs::nn {

// The name of the first floating-point tensor holding a NaN or an infinity.
std::optional<std::string> first_non_finite(const std::map<std::string, engine::Tensor>& state);

// Throws "<where>: non-finite values in '<name>'" when first_non_finite finds one.
void check_finite(const std::map<std::string, engine::Tensor>& state, const std::string& where);

}  // namespace qs::nn
