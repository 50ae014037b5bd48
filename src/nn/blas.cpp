// CBLAS calls. Dimensions are checked to fit CBLAS's int.
#include "nn/blas.hpp"

#include <cblas.h>

#include <climits>
#include <mutex>

#include "core/error.hpp"

namespace wordlm::blas {

namespace {
inline blasint I(std::int64_t v) {
  WORDLM_CHECK(v >= 0 && v <= INT_MAX, "BLAS dimension out of range");
  return static_cast<blasint>(v);
}
}  // namespace

template <>
void gemm<float>(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
                 std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, I(M), I(N), I(K), alpha,
              A, I(lda), B, I(ldb), beta, C, I(ldc));
}

template <>
void gemm<double>(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha, const double* A,
                  std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, I(M), I(N), I(K), alpha,
              A, I(lda), B, I(ldb), beta, C, I(ldc));
}

template <>
void gemv<float>(std::int64_t M, std::int64_t N, float alpha, const float* A, std::int64_t lda, const float* x,
                 float beta, float* y) {
  if (M == 0) return;
  cblas_sgemv(CblasRowMajor, CblasNoTrans, I(M), I(N), alpha, A, I(lda), x, 1, beta, y, 1);
}

template <>
void gemv<double>(std::int64_t M, std::int64_t N, double alpha, const double* A, std::int64_t lda, const double* x,
                  double beta, double* y) {
  if (M == 0) return;
  cblas_dgemv(CblasRowMajor, CblasNoTrans, I(M), I(N), alpha, A, I(lda), x, 1, beta, y, 1);
}

void ensure_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

std::string openblas_config() { return openblas_get_config(); }
std::string openblas_core() { return openblas_get_corename(); }
int openblas_threads() {
  ensure_single_threaded();
  return openblas_get_num_threads();
}

}  // namespace wordlm::blas
