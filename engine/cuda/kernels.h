#pragma once
// CUDA kernels: the list in engine/kernel_list.inc, with the CPU kernels'
// semantics. Unlike the CPU kernels these also take bf16/f16 tensors
// (computing in f32); matmul runs through cuBLAS and reads transposed views in
// place. Plain C++17: Tensor is only forward-declared, so nvcc never parses
// tensor.h.
#include <cstdint>

#include "engine/op_table.h"

namespace qs::engine {
class Tensor;
}

namespace qs::engine::cuda {

#include "engine/kernel_list.inc"

}  // namespace qs::engine::cuda
