#pragma once
// Process groups: the collectives data-parallel training needs, on the
// engines the field trusts - Open MPI between processes for CPU tensors,
// NCCL between GPUs for CUDA tensors (its communicator bootstrapped over MPI:
// rank 0's unique id is broadcast). Nothing home-made goes on the wire.
//
// One process is a group of size 1 whose collectives are identities; MPI is
// only initialised when the process was started by mpirun (its environment
// says so), so a plain `qslaw run` needs neither mpirun nor a network.
//
// Collectives run on one communication thread per group, in the order they
// were issued (every rank must issue the same collectives in the same order,
// as MPI requires); the *_async forms return at once, so gradient buckets
// all-reduce while backward computes the next ones.
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "engine/tensor.h"

namespace qs::engine::dist {

enum class ReduceOp { sum, avg };

// A collective in flight. wait() returns when it is complete (the tensor then
// holds the result) and rethrows its error; seconds() also waits, and says how
// long the collective itself ran on the communication thread.
class Work {
 public:
  Work() = default;
  explicit Work(std::shared_future<double> done) : done_(std::move(done)) {}
  void wait() const { seconds(); }
  double seconds() const;
  bool valid() const { return done_.valid(); }

 private:
  std::shared_future<double> done_;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "local", "mpi" (CPU tensors) or "mpi+nccl" (CUDA tensors too).
  virtual std::string backend() const = 0;

  virtual void barrier() = 0;
  // Every rank's tensor becomes root's (contiguous, same shape on every rank).
  virtual void broadcast(Tensor& t, int root = 0) = 0;
  // In place; t must stay alive and untouched until wait().
  virtual Work all_reduce_async(Tensor t, ReduceOp op = ReduceOp::sum) = 0;
  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum) { all_reduce_async(t, op).wait(); }
  // Every rank's t (same shape on every rank) concatenated along dim 0 in
  // rank order: (size * n, ...).
  virtual Tensor all_gather(const Tensor& t) = 0;
  // t's dim 0 (divisible by size) in size parts; rank r gets the reduction of
  // every rank's part r.
  virtual Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::sum) = 0;
  // Ends every rank of the job now (MPI_Abort): a rank that failed must not
  // leave the others waiting in a collective.
  [[noreturn]] virtual void abort(int code) = 0;
};

// The group of every process of the job: MPI's world when launched by mpirun
// (MPI initialised on first use), else a group of one.
ProcessGroup& world();
// A group of one (the single-process reference in tests).
std::unique_ptr<ProcessGroup> local_group();
// Whether this process was started by mpirun (Open MPI's or PMIx's environment).
bool launched_by_mpi();
// Shuts MPI down cleanly at exit when it was started (idempotent).
void finalize();

// The device a config's text names for this process: "cuda" in a job of
// several processes is one GPU per process on each node (its local rank
// modulo the GPUs visible), as NCCL needs; anything else as parse_device.
Device rank_device(std::string_view text);

// What this build can do: "Open MPI v4.1.4, NCCL (loaded when CUDA tensors
// are reduced)" or "no MPI (one process)", for `qslaw info`.
std::string build_info();

// Rank r's rows [begin, end) of n rows split as evenly as possible (the
// first n % size ranks get one more).
struct Share {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
Share share_of(int64_t n, int rank, int size);

}  // namespace qs::engine::dist
