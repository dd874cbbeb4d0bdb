#pragma once
// Our f32 GEMM: packed panels and an AVX-512 or AVX2 register-blocked micro-kernel
// (the Goto/BLIS loop nest). Where neither is compiled in, available()
// is false and matmul falls back to Eigen, which also stays as the reference
// the tests compare against.
#include <cstdint>

namespace qs::engine::cpu::sgemm {

bool available();

// C = A B with C (m, n) row-major (leading dim ldc), A (m, k) with element
// (i, p) at a[i * rsa + p * csa], B (k, n) with element (p, j) at
// b[p * rsb + j * csb]: any mix of row- and column-major operands.
// Threads with OpenMP unless called from inside a parallel region.
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa,
          const float* b, int64_t rsb, int64_t csb, float* c, int64_t ldc);

// C = A B, or C += A B with accumulate, without packing either operand: B is
// row-major (leading dim ldb) and read in place, A's element (i, p) is at
// a[i * rsa + p * csa] and broadcast one at a time. For attention's products
// with heads of d <= 64 (sgemm_small.cpp), where gemm's packing cost as much
// as the arithmetic; B should fit in L2. Always on the calling thread. Works
// without either too (a plain loop).
void gemm_small(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
                int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace qs::engine::cpu::sgemm
