// Thin typed wrappers over CBLAS (OpenBLAS), row-major. wordlm keeps OpenBLAS single-threaded
// and calls it from each of its own threads on a slice (see core/threads.hpp).
#pragma once

#include <cstdint>
#include <string>

namespace wordlm::blas {

// C[M,N] = alpha * op(A) op(B) + beta * C; op(X) = X or X^T (ta/tb). Leading dims as in CBLAS.
template <class T>
void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, std::int64_t lda,
          const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

// y[M] = alpha * A[M,N] x + beta * y  (A row-major, no transpose)
template <class T>
void gemv(std::int64_t M, std::int64_t N, T alpha, const T* A, std::int64_t lda, const T* x, T beta, T* y);

void ensure_single_threaded();  // openblas_set_num_threads(1), once
std::string openblas_config();   // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
std::string openblas_core();     // e.g. "Zen"
int openblas_threads();          // OpenBLAS's own pool size after ensure_single_threaded() (1)

}  // namespace wordlm::blas
