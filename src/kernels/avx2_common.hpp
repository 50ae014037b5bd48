// Shared AVX2 building blocks, included only by the *_avx2.cpp files (compiled with -mavx2
// -mfma): 8-lane exp/sigmoid/tanh written as the same IEEE operations as mathfn.hpp, the 8-lane
// reduction order of the kernel contract, tail masks, the float GEMM epilogue, and the
// elementwise kernels the dispatch table points at.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <utility>

#include "kernels/kernels.hpp"
#include "kernels/mathfn.hpp"

namespace wordlm::kernels::avx2 {

using namespace mathfn;

using namespace mathfn;

// Compile-time loop: f(std::integral_constant<int, I>) for I = 0..N-1. Register-blocked kernels
// index their accumulator arrays only through it, so every index is a constant and GCC keeps
// the arrays in registers (with runtime loops it keeps them in memory and stores every update).
template <int N, class F>
inline __attribute__((always_inline)) void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f(std::integral_constant<int, I>{}), ...); }
  (std::make_integer_sequence<int, N>{});
}

// ---------------------------------------------------------------- fp32 math, 8 lanes
inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(kExpLo), x);  // max/min return the 2nd operand on NaN: NaN passes
  x = _mm256_min_ps(_mm256_set1_ps(kExpHi), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Hi), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP5));
  const __m256 r2 = _mm256_mul_ps(r, r);
  __m256 y = _mm256_fmadd_ps(p, r2, r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256 pow2n = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(y, pow2n);
}

inline __m256 sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 neg = _mm256_xor_ps(x, _mm256_set1_ps(-0.0f));
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(neg)));
}

inline __m256 tanh8(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x);
  // small branch: odd Taylor polynomial
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(kTanhT17);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(kTanhT15));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(kTanhT13));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(kTanhT11));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(kTanhT9));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(kTanhT7));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(kTanhT5));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(kTanhT3));
  const __m256 t = _mm256_mul_ps(p, x2);
  const __m256 small = _mm256_fmadd_ps(t, x, x);
  // large branch: (1 - e) / (1 + e), e = exp(-2|x|), sign restored
  const __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), ax));
  const __m256 r = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  const __m256 large = _mm256_or_ps(_mm256_andnot_ps(sign, r), _mm256_and_ps(sign, x));
  const __m256 is_small = _mm256_cmp_ps(ax, _mm256_set1_ps(kTanhSmall), _CMP_LT_OQ);
  return _mm256_blendv_ps(large, small, is_small);
}

inline float reduce8(__m256 v) {
  alignas(32) float l[8];
  _mm256_store_ps(l, v);
  return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

// The tail of a 16-lane max / sum-exp part: each lane continues exactly as the scalar reference.
inline void sumexp_tail(const float* x, std::int64_t i, std::int64_t n, float* ml, float* sl) {
  for (; i < n; ++i) {
    const int l = static_cast<int>(i % 16);
    const float mn = x[i] > ml[l] ? x[i] : ml[l];
    sl[l] = sl[l] * exp_ref(ml[l] - mn) + exp_ref(x[i] - mn);
    ml[l] = mn;
  }
}

inline __m256i tail_mask(std::int64_t rem) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)), idx);
}

// and the bias, store; columns at or past y_cols are not touched (scalar tail, same operations).
inline void finish8(__m256 v, const float* addend_row, const float* bias, float* y_row, std::int64_t r,
                    std::int64_t y_cols) {
  if (r + 8 <= y_cols) {
    if (addend_row) v = _mm256_add_ps(v, _mm256_loadu_ps(addend_row + r));
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + r));
    _mm256_storeu_ps(y_row + r, v);
    return;
  }
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  for (std::int64_t c = 0; r + c < y_cols; ++c) {
    float x = tmp[c];
    if (addend_row) x = x + addend_row[r + c];
    if (bias) x = x + bias[r + c];
    y_row[r + c] = x;
  }
}

// elementwise kernels (elementwise_avx2.cpp)
void exp(const float* x, float* y, std::int64_t n);
void tanh(const float* x, float* y, std::int64_t n);
void sigmoid(const float* x, float* y, std::int64_t n);
float max(const float* x, std::int64_t n);
float max_sumexp(const float* x, std::int64_t n, float* mx);
float exp_sum(const float* x, std::int64_t n, float shift);
void exp_scale_store(float* x, std::int64_t n, float shift, float s);
void lstm_fwd(std::int64_t n, float* zi, float* zf, float* zg, float* zo, const float* c_prev, float* c, float* h,
              float* tc);
void lstm_bwd(std::int64_t n, float* ai, float* af, float* ag, float* ao, const float* c_prev, const float* tc,
              const float* dh, float* dc);
void lstm_fwd_blocked(std::int64_t units, const float* z, const float* c_prev, float* c, float* h);
void sumexp_lanes(const float* x, std::int64_t n, float* m, float* s);
bool minmax(const float* x, std::int64_t n, float* lo, float* hi);
void quantize_u7(const float* x, std::int64_t n, float inv_scale, std::int32_t zp, std::uint8_t* q);

}  // namespace wordlm::kernels::avx2
