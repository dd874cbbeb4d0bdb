// NCCL for CUDA tensors, bootstrapped over MPI. Compiled only in CUDA builds;
// libnccl.so.2 is opened at the first collective on a CUDA tensor.
#include <dlfcn.h>
#include <nccl.h>

#include "engine/cuda/runtime.h"
#include "engine/dist/mpi_group.h"
#include "engine/error.h"

namespace qs::engine::dist {

namespace {

struct Nccl {
  ncclResult_t (*get_unique_id)(ncclUniqueId*);
  ncclResult_t (*comm_init_rank)(ncclComm_t*, int, ncclUniqueId, int);
  ncclResult_t (*comm_destroy)(ncclComm_t);
  ncclResult_t (*all_reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
  ncclResult_t (*broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
  ncclResult_t (*all_gather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t);
  ncclResult_t (*reduce_scatter)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
  const char* (*error_string)(ncclResult_t);
};

const Nccl& nccl_library() {
  static const Nccl lib = [] {
    void* handle = nullptr;
    for (const char* name : {"libnccl.so.2", "libnccl.so"}) {
      if ((handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL))) break;
    }
    if (!handle) fail("NCCL: cannot load libnccl.so.2 (part of the CUDA toolkit or libnccl2): {}", dlerror());
    auto sym = [&](const char* name) {
      void* p = dlsym(handle, name);
      if (!p) fail("NCCL: libnccl has no symbol {}", name);
      return p;
    };
    Nccl n;
    n.get_unique_id = reinterpret_cast<decltype(n.get_unique_id)>(sym("ncclGetUniqueId"));
    n.comm_init_rank = reinterpret_cast<decltype(n.comm_init_rank)>(sym("ncclCommInitRank"));
    n.comm_destroy = reinterpret_cast<decltype(n.comm_destroy)>(sym("ncclCommDestroy"));
    n.all_reduce = reinterpret_cast<decltype(n.all_reduce)>(sym("ncclAllReduce"));
    n.broadcast = reinterpret_cast<decltype(n.broadcast)>(sym("ncclBroadcast"));
    n.all_gather = reinterpret_cast<decltype(n.all_gather)>(sym("ncclAllGather"));
    n.reduce_scatter = reinterpret_cast<decltype(n.reduce_scatter)>(sym("ncclReduceScatter"));
    n.error_string = reinterpret_cast<decltype(n.error_string)>(sym("ncclGetErrorString"));
    return n;
  }();
  return lib;
}

void check_nccl(ncclResult_t r, const char* call) {
  if (r != ncclSuccess) fail("NCCL: {} failed: {}", call, nccl_library().error_string(r));
}

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::bf16: return ncclBfloat16;
    case DType::f16: return ncclFloat16;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    case DType::u8: return ncclUint8;
  }
  fail("NCCL: no type for {}", dtype_name(d));
}

class NcclCommImpl final : public NcclComm {
 public:
  NcclCommImpl(int rank, int size, int device, const std::function<void(void*, std::size_t)>& share_id)
      : device_(device) {
    const Nccl& lib = nccl_library();
    ncclUniqueId id{};
    if (rank == 0) check_nccl(lib.get_unique_id(&id), "ncclGetUniqueId");
    share_id(&id, sizeof(id));
    cuda::set_device(device);
    check_nccl(lib.comm_init_rank(&comm_, size, id, rank), "ncclCommInitRank");
  }
  ~NcclCommImpl() override { nccl_library().comm_destroy(comm_); }

  void all_reduce(Tensor& t, ReduceOp op) override {
    run([&](cudaStream_t s) {
      return nccl_library().all_reduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()),
                                       op == ReduceOp::avg ? ncclAvg : ncclSum, comm_, s);
    }, "ncclAllReduce");
  }
  void broadcast(Tensor& t, int root) override {
    run([&](cudaStream_t s) {
      return nccl_library().broadcast(t.raw_data(), t.raw_data(), t.nbytes(), ncclUint8, root, comm_, s);
    }, "ncclBroadcast");
  }
  void all_gather(const Tensor& in, Tensor& out) override {
    run([&](cudaStream_t s) {
      return nccl_library().all_gather(in.raw_data(), out.raw_data(), in.nbytes(), ncclUint8, comm_, s);
    }, "ncclAllGather");
  }
  void reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op) override {
    run([&](cudaStream_t s) {
      return nccl_library().reduce_scatter(in.raw_data(), out.raw_data(), static_cast<size_t>(out.numel()),
                                           nccl_type(in.dtype()), op == ReduceOp::avg ? ncclAvg : ncclSum, comm_, s);
    }, "ncclReduceScatter");
  }

 private:
  // Queued on the engine's stream after the kernels that produced the data;
  // waits for it so the caller's Work completes with the result in place.
  template <class F>
  void run(F&& call, const char* name) {
    cuda::set_device(device_);
    auto stream = static_cast<cudaStream_t>(cuda::stream());
    check_nccl(call(stream), name);
    cuda::synchronize(device_);
  }

  ncclComm_t comm_ = nullptr;
  int device_;
};

}  // namespace

std::unique_ptr<NcclComm> make_nccl_comm(int rank, int size, int device,
                                         const std::function<void(void*, std::size_t)>& share_id) {
  return std::make_unique<NcclCommImpl>(rank, size, device, share_id);
}

std::string nccl_build_info() {
  return fmt::format("NCCL {}.{}.{} headers (libnccl loaded at the first collective on a GPU)", NCCL_MAJOR, NCCL_MINOR,
                     NCCL_PATCH);
}

}  // namespace qs::engine::dist
