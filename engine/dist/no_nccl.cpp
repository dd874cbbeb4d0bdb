// Builds without CUDA: collectives on CUDA tensors cannot happen.
#include "engine/dist/mpi_group.h"

namespace qs::engine::dist {

std::unique_ptr<NcclComm> make_nccl_comm(int, int, int, const std::function<void(void*, std::size_t)>&) {
  return nullptr;
}
std::string nccl_build_info() { return "no NCCL (a build without CUDA)"; }

}  // namespace qs::engine::dist
