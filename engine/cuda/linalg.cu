// Batched matmul through cuBLAS. The engine is row-major and cuBLAS
// column-major: C = A B is computed as C^T = B^T A^T, and a row-major operand
// read column-major is already its transpose, so no copies are needed when
// each matrix has a unit stride along one of its two dims (plain or
// transposed views).
#include <cublas_v2.h>
#include <dlfcn.h>

#include "engine/cuda/common.cuh"
#include "engine/cuda/kernels.h"

namespace qs::engine::cuda {

namespace {

// cuBLAS is opened on the first matmul rather than linked: loading it (and
// cuBLASLt, together over half a gigabyte) costs every process a third of a
// second at start-up, GPU or not, and binaries then start on machines
// without it.
struct Blas {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  // (Spelled out: C++ sources see an extra inline overload of this name.)
  cublasStatus_t (*gemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                         const void*, const void*, cudaDataType, int, long long, const void*,
                         cudaDataType, int, long long, const void*, void*, cudaDataType, int,
                         long long, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

const Blas& blas() {
  static const Blas b = [] {
    void* lib = nullptr;
    for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
      if ((lib = dlopen(name, RTLD_NOW | RTLD_GLOBAL))) break;
    }
    if (!lib) fail("matmul: cannot load cuBLAS (libcublas.so.13): {}", dlerror());
    Blas out;
    auto sym = [&](const char* name) {
      void* p = dlsym(lib, name);
      if (!p) fail("matmul: cuBLAS has no symbol {}", name);
      return p;
    };
    out.create = reinterpret_cast<decltype(out.create)>(sym("cublasCreate_v2"));
    out.set_stream = reinterpret_cast<decltype(out.set_stream)>(sym("cublasSetStream_v2"));
    out.gemm = reinterpret_cast<decltype(out.gemm)>(sym("cublasGemmStridedBatchedEx"));
    out.status_string = reinterpret_cast<decltype(out.status_string)>(sym("cublasGetStatusString"));
    return out;
  }();
  return b;
}

void check_blas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    fail("cuBLAS error in {}: {} ({})", call, blas().status_string(status), static_cast<int>(status));
  }
}

cublasHandle_t handle() {
  static cublasHandle_t handles[16] = {};
  const int device = current_device();
  if (!handles[device]) check_blas(blas().create(&handles[device]), "cublasCreate");
  check_blas(blas().set_stream(handles[device], current_stream()), "cublasSetStream");
  return handles[device];
}

struct Operand {
  cublasOperation_t op = CUBLAS_OP_N;
  int64_t ld = 0;
  bool ok = false;
};

// A row-major (rows, cols) matrix with strides (rs, cs) as a column-major
// operand of shape (cols, rows): untransposed when cs == 1, transposed when
// rs == 1. Strides along size-1 dims are free, so they are fixed up.
Operand as_column_major(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (cols == 1) cs = 1;
  if (rows == 1) rs = cols;
  if (cs == 1 && rs >= (cols > 1 ? cols : 1)) return {CUBLAS_OP_N, rs, true};
  if (rs == 1 && cs >= (rows > 1 ? rows : 1)) return {CUBLAS_OP_T, cs, true};
  return {};
}

}  // namespace

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  Matrices am = matrices_of(a), bm = matrices_of(b), cm = matrices_of(out);
  const int64_t m = am.rows, k = am.cols, n = bm.cols, batch = cm.batch;
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {
    fill(out, 0.0);
    return;
  }
  // C^T (n x m) = op(B') (n x k) * op(A') (k x m), where B' and A' are the
  // row-major operands read column-major.
  Operand ob = as_column_major(k, n, bm.row_stride, bm.col_stride);
  Operand oa = as_column_major(m, k, am.row_stride, am.col_stride);
  QS_CHECK(ob.ok && oa.ok && cm.col_stride == 1 && cm.row_stride == n,
           "cuda::matmul: operands need a unit stride in one of their last two dims "
           "(engine/ops makes them so)");
  const auto too_big = [](int64_t v) { return v > 2147483647; };
  QS_CHECK(!too_big(m) && !too_big(n) && !too_big(k) && !too_big(batch) && !too_big(oa.ld) &&
               !too_big(ob.ld),
           "cuda::matmul: dims ({} x {} x {}, batch {}) exceed cuBLAS's 32-bit limits", m, k, n,
           batch);
  cudaDataType_t type;
  cublasComputeType_t compute;
  switch (cm.dtype) {
    case DType::f32:
      type = CUDA_R_32F;
      compute = allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      break;
    case DType::f64: type = CUDA_R_64F; compute = CUBLAS_COMPUTE_64F; break;
    case DType::bf16: type = CUDA_R_16BF; compute = CUBLAS_COMPUTE_32F; break;
    case DType::f16: type = CUDA_R_16F; compute = CUBLAS_COMPUTE_32F; break;
    default: fail("matmul: dtype {} is not supported on CUDA", dtype_name(cm.dtype));
  }
  const float one_f = 1.0f, zero_f = 0.0f;
  const double one_d = 1.0, zero_d = 0.0;
  const bool dbl = cm.dtype == DType::f64;
  const void* alpha = dbl ? static_cast<const void*>(&one_d) : static_cast<const void*>(&one_f);
  const void* beta = dbl ? static_cast<const void*>(&zero_d) : static_cast<const void*>(&zero_f);
  check_blas(blas().gemm(
                 handle(), ob.op, oa.op, static_cast<int>(n), static_cast<int>(m),
                 static_cast<int>(k), alpha, bm.data, type, static_cast<int>(ob.ld),
                 bm.batch == 1 ? 0 : bm.batch_stride, am.data, type, static_cast<int>(oa.ld),
                 am.batch == 1 ? 0 : am.batch_stride, beta, cm.data, type, static_cast<int>(n),
                 m * n, static_cast<int>(batch), compute, CUBLAS_GEMM_DEFAULT),
             "cublasGemmStridedBatchedEx");
}

}  // namespace qs::engine::cuda
