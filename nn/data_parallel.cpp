#include "nn/data_parallel.h"

#include <chrono>

#include "autograd/grad_ready.h"
#include "engine/ops.h"

namespace qs::nn {

namespace e = qs::engine;

GradientSync::GradientSync(std::vector<autograd::Var> params, e::dist::ProcessGroup& group, int64_t bucket_bytes)
    : params_(std::move(params)), group_(group), bucket_of_(params_.size()) {
  QS_CHECK(bucket_bytes > 0, "GradientSync: bucket_bytes must be positive, got {}", bucket_bytes);
  // Backward finishes the last layers' gradients first: buckets are filled in
  // reverse parameter order, so the first bucket is ready earliest.
  for (std::size_t k = params_.size(); k-- > 0;) {
    const autograd::Var& p = params_[k];
    QS_CHECK(p.requires_grad() && p.is_leaf(), "GradientSync: parameter {} is not a trainable leaf", k);
    QS_CHECK(index_of_.emplace(p.impl(), k).second, "GradientSync: parameter {} is listed twice", k);
    const e::Tensor& d = p.data();
    Bucket* b = buckets_.empty() ? nullptr : &buckets_.back();
    const bool fits = b && b->dtype == d.dtype() && b->device == d.device() &&
                      static_cast<double>(b->numel + d.numel()) * static_cast<double>(e::dtype_size(d.dtype())) <=
                          static_cast<double>(bucket_bytes);
    if (!fits) {
      buckets_.emplace_back();
      b = &buckets_.back();
      b->dtype = d.dtype();
      b->device = d.device();
    }
    b->params.push_back(k);
    b->offsets.push_back(b->numel);
    b->numel += d.numel();
    bucket_of_[k] = buckets_.size() - 1;
  }
  for (Bucket& b : buckets_) {
    b.numel += static_cast<int64_t>(b.params.size());  // the defined-flags
    stats_.bytes_per_step += static_cast<double>(b.numel) * static_cast<double>(e::dtype_size(b.dtype));
  }
  stats_.buckets = static_cast<int64_t>(buckets_.size());
}

void GradientSync::broadcast_parameters(int root) {
  if (!active()) return;
  for (autograd::Var& p : params_) {
    e::Tensor t = p.data().contiguous();
    group_.broadcast(t, root);
    if (t.storage() != p.data().storage()) e::copy_(p.data(), t);
  }
}

void GradientSync::backward(const autograd::Var& loss) {
  if (!active()) return loss.backward();
  autograd::GradReadyHook hook([this](autograd::VarImpl* leaf) {
    auto it = index_of_.find(leaf);
    if (it == index_of_.end()) return;  // a leaf that is not one of ours (an input)
    ++buckets_[bucket_of_[it->second]].ready;
    // In bucket order: every rank must issue the same collectives in the
    // same order, and another rank's backward (a batch without images) may
    // finish its buckets in another order, or not at all.
    while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
      launch(buckets_[next_launch_++]);
    }
  });
  loss.backward();
}

void GradientSync::launch(Bucket& b) {
  b.flat = e::Tensor({b.numel}, b.dtype, b.device);
  const int64_t flags = b.numel - static_cast<int64_t>(b.params.size());
  for (std::size_t i = 0; i < b.params.size(); ++i) {
    const autograd::Var& p = params_[b.params[i]];
    e::Tensor slot = b.flat.slice(0, b.offsets[i], b.offsets[i] + p.numel());
    const bool has = p.grad().defined();
    if (has) e::copy_(slot, p.grad().reshape({-1}));
    else e::fill_(slot, 0.0);
    e::fill_(b.flat.slice(0, flags + static_cast<int64_t>(i), flags + static_cast<int64_t>(i) + 1), has ? 1.0 : 0.0);
  }
  b.work = group_.all_reduce_async(b.flat, e::dist::ReduceOp::avg);
}

void GradientSync::finish() {
  if (!active()) return;
  while (next_launch_ < buckets_.size()) launch(buckets_[next_launch_++]);
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) stats_.reduce_seconds += b.work.seconds();
  stats_.exposed_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (Bucket& b : buckets_) {
    const int64_t flags = b.numel - static_cast<int64_t>(b.params.size());
    e::Tensor defined = b.flat.slice(0, flags, b.numel).to(e::Device::cpu());
    for (std::size_t i = 0; i < b.params.size(); ++i) {
      const autograd::Var& p = params_[b.params[i]];
      if (defined.slice(0, i, i + 1).item<double>() > 0) {
        p.set_grad(b.flat.slice(0, b.offsets[i], b.offsets[i] + p.numel()).view(p.shape()));
      } else {
        p.zero_grad();
      }
    }
    b.ready = 0;
    b.flat = e::Tensor();
    b.work = e::dist::Work();
  }
  next_launch_ = 0;
  ++stats_.steps;
}

autograd::Var all_gather_rows(const autograd::Var& x, e::dist::ProcessGroup& group) {
  if (group.size() == 1) return x;
  const int64_t n = x.size(0);
  const int rank = group.rank();
  const double world = group.size();
  return autograd::make_result(group.all_gather(x.data().contiguous()), "all_gather_rows", {x},
                               [n, rank, world](const e::Tensor& g, const std::vector<bool>&) {
                                 return std::vector<e::Tensor>{g.slice(0, rank * n, (rank + 1) * n) * world};
                               });
}

void broadcast_state(std::map<std::string, e::Tensor>& state, e::dist::ProcessGroup& group, int root) {
  if (group.size() == 1) return;
  for (auto& [key, t] : state) {
    e::Tensor c = t.contiguous();
    group.broadcast(c, root);
    if (c.storage() != t.storage()) e::copy_(t, c);
  }
}

}  // namespace qs::nn
