#pragma once
// The gradient side of data-parallel training. Every rank holds the whole
// model and runs its share of each global batch; GradientSync
//  - broadcasts rank 0's parameters (and any state) at the start,
//  - averages gradients over the ranks in buckets of about bucket_bytes: a
//    bucket all-reduces as soon as backward has finished its last gradient
//    (autograd/grad_ready.h) and the buckets before it have started, so
//    communication overlaps the rest of backward,
//  - leaves a parameter's gradient undefined when no rank produced one, as one
//    process would (the optimizer then skips it).
// After finish() every rank holds the same averaged gradients, so gradient
// clipping sees the global norm and every rank's optimizer steps identically.
// In a group of one it does nothing at all.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "autograd/var.h"
#include "engine/dist/process_group.h"

namespace qs::nn {

struct GradientSyncStats {
  int64_t steps = 0;
  int64_t buckets = 0;           // per step
  double bytes_per_step = 0.0;   // all-reduced per step (gradients and their defined-flags)
  double reduce_seconds = 0.0;   // collectives' own running time, summed over steps
  double exposed_seconds = 0.0;  // time finish() waited for them (not hidden behind backward)
};

class GradientSync {
 public:
  GradientSync(std::vector<autograd::Var> params, engine::dist::ProcessGroup& group, int64_t bucket_bytes = 1 << 20);

  bool active() const { return group_.size() > 1; }
  engine::dist::ProcessGroup& group() { return group_; }

  // Rank root's parameter values on every rank.
  void broadcast_parameters(int root = 0);
  // loss.backward(), launching each bucket's all-reduce as it fills. Use it
  // for the last micro-batch of a step (earlier ones: plain backward).
  void backward(const autograd::Var& loss);
  // Launches the buckets not launched yet (all of them when this rank ran no
  // backward this step), waits, and sets every parameter's averaged gradient.
  void finish();

  const GradientSyncStats& stats() const { return stats_; }

 private:
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    std::vector<int64_t> offsets;     // element offset of each in the flat buffer
    int64_t numel = 0;                // gradients, then one defined-flag per parameter
    engine::DType dtype = engine::DType::f32;
    engine::Device device;
    // Per step:
    std::size_t ready = 0;  // parameters whose gradient backward has finished
    engine::Tensor flat;
    engine::dist::Work work;
  };
  void launch(Bucket& bucket);

  std::vector<autograd::Var> params_;
  engine::dist::ProcessGroup& group_;
  std::vector<Bucket> buckets_;
  std::size_t next_launch_ = 0;  // buckets launch in order
  std::vector<std::size_t> bucket_of_;  // per parameter
  std::map<autograd::VarImpl*, std::size_t> index_of_;
  GradientSyncStats stats_;
};

// Every rank's rows of x (the same shape on every rank) concatenated in rank
// order, differentiably: for a loss every rank computes alike from the
// gathered rows (CLIP's contrastive loss over the global batch). Backward
// hands each rank its own rows' gradient times the world size, so that
// GradientSync's average of the ranks' parameter gradients is their sum, the
// gradient of the one global loss (parameters used after the gather, such as
// the temperature, get the same gradient on every rank and keep it).
autograd::Var all_gather_rows(const autograd::Var& x, engine::dist::ProcessGroup& group);

// Every tensor of a state (a checkpoint's model or optimizer entries) made
// equal to rank root's, in key order; every rank must hold the same keys and
// shapes.
void broadcast_state(std::map<std::string, engine::Tensor>& state, engine::dist::ProcessGroup& group, int root = 0);

}  // namespace qs::nn
