// Inline helpers shared by the AVX-512 GEMM files (gemm_avx512.cpp, gemm4_avx512.cpp); include only
// from *_avx512.cpp files, which are compiled with -mavx512*.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

namespace wordlm::kernels::avx512 {

template <int N, class F>
inline __attribute__((always_inline)) void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f(std::integral_constant<int, I>{}), ...); }
  (std::make_integer_sequence<int, N>{});
}

inline __m512i bcast4(const std::uint8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// The end of every float epilogue for 16 outputs r..r+15 of one row: (+ addend) (+ bias), store;
// outputs at or past y_cols are not touched.
inline void finish16(__m512 v, const float* addend_row, const float* bias, float* y_row, std::int64_t r,
                     std::int64_t y_cols) {
  const std::int64_t n = std::min<std::int64_t>(16, y_cols - r);
  const __mmask16 k = n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
  if (addend_row) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, addend_row + r));
  if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, bias + r));
  _mm512_mask_storeu_ps(y_row + r, k, v);
}

}  // namespace wordlm::kernels::avx512
