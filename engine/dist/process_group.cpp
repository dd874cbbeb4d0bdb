#include "engine/dist/process_group.h"

#include <cstdlib>

#include "engine/dist/mpi_group.h"
#include "engine/backend.h"
#include "engine/error.h"

namespace qs::engine::dist {

double Work::seconds() const {
  return done_.valid() ? done_.get() : 0.0;  // rethrows the collective's error
}

namespace {

// Size 1: every collective is the identity (sum and mean of one value).
class LocalGroup final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void barrier() override {}
  void broadcast(Tensor& t, int root) override {
    check_collective_input(t, "broadcast");
    QS_CHECK(root == 0, "broadcast: root {} is not a rank of a group of one", root);
  }
  Work all_reduce_async(Tensor t, ReduceOp op) override {
    check_collective_input(t, "all_reduce");
    return {};
  }
  Tensor all_gather(const Tensor& t) override {
    check_collective_input(t, "all_gather");
    return t.clone();
  }
  Tensor reduce_scatter(const Tensor& t, ReduceOp op) override {
    check_collective_input(t, "reduce_scatter");
    return t.clone();
  }
  [[noreturn]] void abort(int code) override { std::_Exit(code); }
};

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : -1;
}

}  // namespace

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_SIZE");
}

std::unique_ptr<ProcessGroup> local_group() { return std::make_unique<LocalGroup>(); }

namespace {
std::unique_ptr<ProcessGroup>& world_slot() {
  static std::unique_ptr<ProcessGroup> world;
  return world;
}
}  // namespace

ProcessGroup& world() {
  std::unique_ptr<ProcessGroup>& w = world_slot();
  if (w) return *w;
  if (launched_by_mpi()) {
    w = make_mpi_world();
    if (!w) {
      // Several copies training alone would each write the same cache.
      const int n = std::max(env_int("OMPI_COMM_WORLD_SIZE"), env_int("PMI_SIZE"));
      QS_CHECK(n <= 1, "started by mpirun with {} processes, but this build has no MPI: install libopenmpi-dev "
               "(./qslaw does) and rebuild", n);
      w = local_group();
    }
  } else {
    w = local_group();
  }
  return *w;
}

void finalize() { world_slot().reset(); }

std::string build_info() { return mpi_build_info(); }

Device rank_device(std::string_view text) {
  const Device d = parse_device(text);
  if (text != "cuda" || !launched_by_mpi() || world().size() == 1) return d;
  int local = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
  if (local < 0) local = world().rank();
  return Device::cuda(local % std::max(1, cuda_device_count()));
}

void check_collective_input(const Tensor& t, const char* what) {
  QS_CHECK(t.defined() && t.is_contiguous(), "{}: needs a defined, contiguous tensor, got {}", what,
           t.defined() ? describe(t) : std::string("undefined"));
}

Share share_of(int64_t n, int rank, int size) {
  QS_CHECK(size > 0 && rank >= 0 && rank < size && n >= 0, "share_of: rank {} of {} over {} rows", rank, size, n);
  const int64_t base = n / size, extra = n % size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace qs::engine::dist
