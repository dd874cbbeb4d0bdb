#pragma once
// Activation checkpointing: run fn without recording a graph, keep only its
// inputs, and recompute fn with a graph during backward. Gradients are the
// same as without checkpointing (fn must be deterministic: no dropout drawn
// from a generator that moved in between).
#include <functional>
#include <vector>

#include "autograd/var.h"

namespace qs::autograd {

Var checkpoint(const std::function<Var(const std::vector<Var>&)>& fn,
               const std::vector<Var>& inputs);

}  // namespace qs::autograd
