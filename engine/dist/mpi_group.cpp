// The MPI world group. Every MPI call happens on the group's communication
// thread (MPI then needs only MPI_THREAD_FUNNELED), which runs the issued
// collectives one after another: the order every rank issues them in is the
// order they run in, and the caller's thread keeps computing meanwhile.
#include "engine/dist/mpi_group.h"

#include <chrono>
#include <climits>
#include <cstdlib>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/error.h"

#if QS_HAVE_MPI
#include <mpi.h>
#endif

namespace qs::engine::dist {

#if QS_HAVE_MPI

namespace {

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  fail("MPI: {} failed: {}", call, std::string(text, static_cast<std::size_t>(len)));
}

MPI_Datatype mpi_type(DType d, const char* what) {
  switch (d) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    case DType::u8: return MPI_UINT8_T;
    default: fail("{}: MPI cannot reduce {} tensors on the CPU (f32, f64, i32, i64, u8)", what, dtype_name(d));
  }
}

// Per-rank counts of MPI's int-sized calls (2^31 - 1 elements).
int checked_count(std::size_t n, const char* what) {
  QS_CHECK(n <= static_cast<std::size_t>(INT_MAX), "{}: {} elements per rank exceed MPI's count limit", what, n);
  return static_cast<int>(n);
}

void divide(Tensor& t, int size) {
  const int64_t n = t.numel();
  if (t.dtype() == DType::f32) {
    float* p = t.data<float>();
    const float inv = 1.0f / static_cast<float>(size);
    for (int64_t i = 0; i < n; ++i) p[i] *= inv;
  } else if (t.dtype() == DType::f64) {
    double* p = t.data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] /= size;
  } else {
    fail("all_reduce: avg needs a floating tensor, got {}", dtype_name(t.dtype()));
  }
}


class MpiGroup final : public ProcessGroup {
 public:
  MpiGroup() {
    // A rank's communication thread shares its cores with the compute
    // threads; Open MPI's waiting loop spins unless told to yield, which made
    // the overlapped CPU step 20% slower on 2 cores (bench data-parallel).
    // The user's own setting wins.
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    worker_ = std::thread([this] { loop(); });
    submit([this] {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      initialized_ = true;
      QS_CHECK(provided >= MPI_THREAD_FUNNELED, "MPI: the library gives thread level {}, qslaw needs FUNNELED", provided);
      check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
      // Errors come back as codes, reported by name, instead of MPI's default abort.
      MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
      MPI_Comm_rank(comm_, &rank_);
      MPI_Comm_size(comm_, &size_);
    }).wait();
  }
  ~MpiGroup() override {
    try {
      submit([this] {
        nccl_.reset();
        if (!initialized_) return;
        MPI_Comm_free(&comm_);
        MPI_Finalize();
      }).wait();
    } catch (...) {
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    ready_.notify_one();
    worker_.join();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return nccl_ ? "mpi+nccl" : "mpi"; }

  void barrier() override {
    submit([this] { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }).wait();
  }

  void broadcast(Tensor& t, int root) override {
    check_collective_input(t, "broadcast");
    QS_CHECK(root >= 0 && root < size_, "broadcast: root {} is not a rank of a group of {}", root, size_);
    submit([this, t, root]() mutable {
      if (t.device().is_cuda()) return nccl(t.device().index).broadcast(t, root);
      auto* p = static_cast<char*>(t.raw_data());
      for (std::size_t done = 0, n = t.nbytes(); done < n;) {
        const int chunk = static_cast<int>(std::min<std::size_t>(n - done, 1u << 30));
        check_mpi(MPI_Bcast(p + done, chunk, MPI_BYTE, root, comm_), "MPI_Bcast");
        done += static_cast<std::size_t>(chunk);
      }
    }).wait();
  }

  Work all_reduce_async(Tensor t, ReduceOp op) override {
    check_collective_input(t, "all_reduce");
    if (t.device().is_cpu()) mpi_type(t.dtype(), "all_reduce");  // refuse before queueing
    return Work(submit([this, t, op]() mutable {
      if (t.device().is_cuda()) return nccl(t.device().index).all_reduce(t, op);
      const MPI_Datatype type = mpi_type(t.dtype(), "all_reduce");
      auto* p = static_cast<char*>(t.raw_data());
      const std::size_t elem = dtype_size(t.dtype());
      for (std::size_t done = 0, n = static_cast<std::size_t>(t.numel()); done < n;) {
        const int chunk = static_cast<int>(std::min<std::size_t>(n - done, 1u << 28));
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, p + done * elem, chunk, type, MPI_SUM, comm_), "MPI_Allreduce");
        done += static_cast<std::size_t>(chunk);
      }
      if (op == ReduceOp::avg) divide(t, size_);
    }));
  }

  Tensor all_gather(const Tensor& in) override {
    check_collective_input(in, "all_gather");
    QS_CHECK(in.dim() >= 1, "all_gather: needs at least one dimension, got a scalar");
    check_same_size(in, "all_gather");
    Shape shape = in.shape();
    shape[0] *= size_;
    Tensor out(shape, in.dtype(), in.device());
    submit([this, in, out]() mutable {
      if (in.device().is_cuda()) return nccl(in.device().index).all_gather(in, out);
      const int count = checked_count(in.nbytes(), "all_gather");
      check_mpi(MPI_Allgather(in.raw_data(), count, MPI_BYTE, out.raw_data(), count, MPI_BYTE, comm_), "MPI_Allgather");
    }).wait();
    return out;
  }

  Tensor reduce_scatter(const Tensor& in, ReduceOp op) override {
    check_collective_input(in, "reduce_scatter");
    QS_CHECK(in.dim() >= 1 && in.size(0) % size_ == 0, "reduce_scatter: dim 0 of {} must divide into {} ranks",
             describe(in), size_);
    if (in.device().is_cpu()) mpi_type(in.dtype(), "reduce_scatter");
    check_same_size(in, "reduce_scatter");
    Shape shape = in.shape();
    shape[0] /= size_;
    Tensor out(shape, in.dtype(), in.device());
    submit([this, in, out, op]() mutable {
      if (in.device().is_cuda()) return nccl(in.device().index).reduce_scatter(in, out, op);
      const int count = checked_count(static_cast<std::size_t>(out.numel()), "reduce_scatter");
      check_mpi(MPI_Reduce_scatter_block(in.raw_data(), out.raw_data(), count, mpi_type(in.dtype(), "reduce_scatter"),
                                         MPI_SUM, comm_),
                "MPI_Reduce_scatter_block");
      if (op == ReduceOp::avg) divide(out, size_);
    }).wait();
    return out;
  }

  [[noreturn]] void abort(int code) override {
    // From the failing thread: the communication thread may be blocked in a
    // collective the other ranks will never join.
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  std::shared_future<double> submit(std::function<void()> fn) {
    std::packaged_task<double()> task([fn = std::move(fn)] {
      const auto start = std::chrono::steady_clock::now();
      fn();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
    std::shared_future<double> done = task.get_future().share();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
    }
    ready_.notify_one();
    return done;
  }

  void loop() {
    for (;;) {
      std::packaged_task<double()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  // MPI's gathers and scatters take one count for every rank: a rank with
  // another size would read or write past a buffer. Every rank learns all
  // sizes first, so all of them refuse together.
  void check_same_size(const Tensor& t, const char* what) {
    std::vector<int64_t> sizes(static_cast<std::size_t>(size_));
    int64_t mine = static_cast<int64_t>(t.nbytes());
    submit([&] {
      check_mpi(MPI_Allgather(&mine, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, comm_), "MPI_Allgather (sizes)");
    }).wait();
    for (int r = 0; r < size_; ++r) {
      QS_CHECK(sizes[static_cast<std::size_t>(r)] == mine, "{}: rank {} holds {} bytes, rank {} {}: every rank must hold the same shape",
               what, r, sizes[static_cast<std::size_t>(r)], rank_, mine);
    }
  }

  // On the communication thread only.
  NcclComm& nccl(int device) {
    if (!nccl_) {
      nccl_ = make_nccl_comm(rank_, size_, device, [this](void* id, std::size_t bytes) {
        check_mpi(MPI_Bcast(id, static_cast<int>(bytes), MPI_BYTE, 0, comm_), "MPI_Bcast (NCCL unique id)");
      });
      QS_CHECK(nccl_, "collective on a CUDA tensor: this build has no CUDA, so no NCCL");
      nccl_device_ = device;
    }
    QS_CHECK(device == nccl_device_, "collective on cuda:{}: this rank's NCCL communicator is on cuda:{}", device,
             nccl_device_);
    return *nccl_;
  }

  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<double()>> queue_;
  bool stop_ = false;
  bool initialized_ = false;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<NcclComm> nccl_;
  int nccl_device_ = -1;
};

}  // namespace

std::unique_ptr<ProcessGroup> make_mpi_world() { return std::make_unique<MpiGroup>(); }

std::string mpi_build_info() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, static_cast<std::size_t>(len));
  if (auto comma = v.find(','); comma != std::string::npos) v.resize(comma);  // "Open MPI v4.1.4"
  return fmt::format("{}; {}", v, nccl_build_info());
}

#else

std::unique_ptr<ProcessGroup> make_mpi_world() { return nullptr; }
std::string mpi_build_info() { return "no MPI in this build (one process; libopenmpi-dev enables mpirun)"; }

#endif

}  // namespace qs::engine::dist
