#pragma once
// qslaw diff: two qslaw tensor files (.h5: checkpoints, stage outputs)
// compared tensor by tensor, as numpy's allclose would (|a - b| <= atol +
// rtol * |b|) or, with --norm, tensor by tensor as a whole, reporting the
// largest differences; exit 1 when they differ in
// names, shapes or beyond the tolerance. Checks that two runs (one process
// and several, a killed run resumed) computed the same weights.
#include <filesystem>

namespace qs::cli {

struct DiffRequest {
  std::filesystem::path a, b;
  double rtol = 1e-5, atol = 1e-8;
  bool norm = false;  // per tensor: ||a - b|| <= atol + rtol ||b||, instead of per value
};

int diff(const DiffRequest& request);

}  // namespace qs::cli
