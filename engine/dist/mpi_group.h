#pragma once
// Internal to engine/dist: the MPI world (null in a build without MPI) and
// the NCCL communicator MPI bootstraps for CUDA tensors.
#include <functional>
#include <memory>
#include <string>

#include "engine/dist/process_group.h"

namespace qs::engine::dist {

std::unique_ptr<ProcessGroup> make_mpi_world();
// Every group refuses the same inputs, at any size.
void check_collective_input(const Tensor& t, const char* what);
std::string mpi_build_info();

// Collectives on CUDA tensors over NCCL, on the engine's stream of the
// tensor's device; each call returns when the result is in place. libnccl is
// opened on first use, as cuBLAS is, so binaries do not need it to start.
class NcclComm {
 public:
  virtual ~NcclComm() = default;
  virtual void all_reduce(Tensor& t, ReduceOp op) = 0;
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void all_gather(const Tensor& in, Tensor& out) = 0;
  virtual void reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op) = 0;
};
// `share_id` broadcasts rank 0's unique id (bytes, in place) over MPI.
// Null in a build without CUDA.
std::unique_ptr<NcclComm> make_nccl_comm(int rank, int size, int device,
                                         const std::function<void(void* id, std::size_t bytes)>& share_id);
std::string nccl_build_info();

}  // namespace qs::engine::dist
