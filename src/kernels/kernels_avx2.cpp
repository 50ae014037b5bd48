// AVX2 + FMA kernels. Compiled with -mavx2 -mfma and reached only through the dispatch table
// after a CPUID check. Every function performs the same IEEE operations in the same order as its
// scalar reference in ref.cpp / mathfn.hpp (lane by lane), so results are bit-identical; the int8
// GEMM uses vpmaddubsw + vpmaddwd, exact under the 7-bit activation contract (kernels.hpp).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "kernels/kernels.hpp"
#include "kernels/mathfn.hpp"

namespace wordlm::kernels {

namespace {

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

inline __m256i tail_mask(std::int64_t rem) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)), idx);
}

void avx2_exp(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = exp_ref(x[i]);
}
void avx2_tanh(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, tanh8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = tanh_ref(x[i]);
}
void avx2_sigmoid(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, sigmoid8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = sigmoid_ref(x[i]);
}

float avx2_max(const float* x, std::int64_t n) {
  float m = x[0];
  std::int64_t i = 0;
  if (n >= 8) {
    __m256 v = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) v = _mm256_max_ps(_mm256_loadu_ps(x + i), v);
    alignas(32) float l[8];
    _mm256_store_ps(l, v);
    m = l[0];
    for (int k = 1; k < 8; ++k) m = l[k] > m ? l[k] : m;
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

float avx2_max_sumexp(const float* x, std::int64_t n, float* mx) {
  __m256 m = _mm256_set1_ps(-__builtin_inff()), s = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 mn = _mm256_max_ps(v, m);  // (v > m) ? v : m, as the scalar
    const __m256 e2 = exp8(_mm256_sub_ps(v, mn));
    if (_mm256_movemask_ps(_mm256_cmp_ps(mn, m, _CMP_NEQ_UQ)) == 0) {
      s = _mm256_add_ps(s, e2);  // no lane's max moved: exp(0) = 1 exactly, s * 1 = s
    } else {
      s = _mm256_add_ps(_mm256_mul_ps(s, exp8(_mm256_sub_ps(m, mn))), e2);
    }
    m = mn;
  }
  alignas(32) float ml[8], sl[8];
  _mm256_store_ps(ml, m);
  _mm256_store_ps(sl, s);
  for (; i < n; ++i) {  // the tail continues each lane exactly as the scalar reference does
    const int l = static_cast<int>(i % 8);
    const float mn = x[i] > ml[l] ? x[i] : ml[l];
    sl[l] = sl[l] * exp_ref(ml[l] - mn) + exp_ref(x[i] - mn);
    ml[l] = mn;
  }
  float M = ml[0];
  for (int l = 1; l < 8; ++l) M = ml[l] > M ? ml[l] : M;
  alignas(32) float t[8];
  for (int l = 0; l < 8; ++l) t[l] = sl[l] * exp_ref(ml[l] - M);
  *mx = M;
  return reduce8(_mm256_load_ps(t));
}

float avx2_exp_sum(const float* x, std::int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
  if (i < n) {  // lanes past n add +0.0, which leaves every lane's sum unchanged, as in the scalar
    const __m256i mask = tail_mask(n - i);
    const __m256 v = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), s)), _mm256_castsi256_ps(mask));
    acc = _mm256_add_ps(acc, v);
  }
  return reduce8(acc);
}

void avx2_exp_scale_store(float* x, std::int64_t n, float shift, float s) {
  const __m256 sh = _mm256_set1_ps(shift), sv = _mm256_set1_ps(s);
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh)), sv));
  for (; i < n; ++i) x[i] = exp_ref(x[i] - shift) * s;
}

void avx2_lstm_fwd(std::int64_t n, float* zi, float* zf, float* zg, float* zo, const float* c_prev, float* c,
                   float* h, float* tc) {
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 i = sigmoid8(_mm256_loadu_ps(zi + j));
    const __m256 f = sigmoid8(_mm256_loadu_ps(zf + j));
    const __m256 g = tanh8(_mm256_loadu_ps(zg + j));
    const __m256 o = sigmoid8(_mm256_loadu_ps(zo + j));
    const __m256 fc = _mm256_mul_ps(f, _mm256_loadu_ps(c_prev + j));
    const __m256 ig = _mm256_mul_ps(i, g);
    const __m256 cn = _mm256_add_ps(fc, ig);
    const __m256 t = tanh8(cn);
    _mm256_storeu_ps(zi + j, i);
    _mm256_storeu_ps(zf + j, f);
    _mm256_storeu_ps(zg + j, g);
    _mm256_storeu_ps(zo + j, o);
    _mm256_storeu_ps(c + j, cn);
    if (tc) _mm256_storeu_ps(tc + j, t);
    _mm256_storeu_ps(h + j, _mm256_mul_ps(o, t));
  }
  for (; j < n; ++j) {
    float t;
    lstm_cell_fwd_one<float>(zi[j], zf[j], zg[j], zo[j], c_prev[j], c[j], h[j], t);
    if (tc) tc[j] = t;
  }
}

void avx2_lstm_bwd(std::int64_t n, float* ai, float* af, float* ag, float* ao, const float* c_prev, const float* tc,
                   const float* dh, float* dc) {
  const __m256 one = _mm256_set1_ps(1.0f);
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 vi = _mm256_loadu_ps(ai + j), vf = _mm256_loadu_ps(af + j), vg = _mm256_loadu_ps(ag + j),
                 vo = _mm256_loadu_ps(ao + j), cp = _mm256_loadu_ps(c_prev + j), t = _mm256_loadu_ps(tc + j),
                 d = _mm256_loadu_ps(dh + j), dcn = _mm256_loadu_ps(dc + j);
    const __m256 dct = _mm256_add_ps(dcn, _mm256_mul_ps(_mm256_mul_ps(d, vo), _mm256_sub_ps(one, _mm256_mul_ps(t, t))));
    const __m256 dzo = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, t), vo), _mm256_sub_ps(one, vo));
    const __m256 dzi = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dct, vg), vi), _mm256_sub_ps(one, vi));
    const __m256 dzg = _mm256_mul_ps(_mm256_mul_ps(dct, vi), _mm256_sub_ps(one, _mm256_mul_ps(vg, vg)));
    const __m256 dzf = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dct, cp), vf), _mm256_sub_ps(one, vf));
    _mm256_storeu_ps(dc + j, _mm256_mul_ps(dct, vf));
    _mm256_storeu_ps(ai + j, dzi);
    _mm256_storeu_ps(af + j, dzf);
    _mm256_storeu_ps(ag + j, dzg);
    _mm256_storeu_ps(ao + j, dzo);
  }
  for (; j < n; ++j) lstm_cell_bwd_one<float>(ai[j], af[j], ag[j], ao[j], c_prev[j], tc[j], dh[j], dc[j]);
}

// ---------------------------------------------------------------- int8 quantization
bool avx2_minmax(const float* x, std::int64_t n, float* lo, float* hi) {
  const __m256 inf = _mm256_set1_ps(__builtin_inff());
  const __m256 sign = _mm256_set1_ps(-0.0f);
  float l = x[0], h = x[0];
  bool finite = true;
  std::int64_t i = 0;
  if (n >= 8) {
    __m256 vl = _mm256_loadu_ps(x), vh = vl, bad = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_loadu_ps(x + i);
      vl = _mm256_min_ps(vl, v);
      vh = _mm256_max_ps(vh, v);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_andnot_ps(sign, v), inf, _CMP_NLT_UQ));  // |v| >= inf or NaN
    }
    finite = _mm256_movemask_ps(bad) == 0;
    alignas(32) float a[8], b[8];
    _mm256_store_ps(a, vl);
    _mm256_store_ps(b, vh);
    l = *std::min_element(a, a + 8);
    h = *std::max_element(b, b + 8);
  }
  for (; i < n; ++i) {
    finite &= std::isfinite(x[i]);
    l = std::min(l, x[i]);
    h = std::max(h, x[i]);
  }
  *lo = l, *hi = h;
  return finite;
}

inline __m256i quant8(const float* x, __m256 inv, __m256i zp) {
  __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x), inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  v = _mm256_max_ps(v, _mm256_set1_ps(-1024.0f));  // (v > -1024) ? v : -1024: NaN -> -1024
  v = _mm256_min_ps(v, _mm256_set1_ps(1024.0f));
  __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
  q = _mm256_max_epi32(q, _mm256_setzero_si256());
  return _mm256_min_epi32(q, _mm256_set1_epi32(127));
}

void avx2_quantize_u7(const float* x, std::int64_t n, float inv_scale, std::int32_t zp, std::uint8_t* q) {
  const __m256 inv = _mm256_set1_ps(inv_scale);
  const __m256i z = _mm256_set1_epi32(zp);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i a = quant8(x + i, inv, z), b = quant8(x + i + 8, inv, z), c = quant8(x + i + 16, inv, z),
                  d = quant8(x + i + 24, inv, z);
    const __m256i ab = _mm256_packs_epi32(a, b);  // per 128-bit lane: a0-3 b0-3 | a4-7 b4-7
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i bytes = _mm256_packus_epi16(ab, cd);  // lane: a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), _mm256_permutevar8x32_epi32(bytes, perm));
  }
  for (; i < n; ++i) {
    const float v = std::nearbyint(x[i] * inv_scale);
    const float lo = v > -1024.0f ? v : -1024.0f;
    const float c = lo < 1024.0f ? lo : 1024.0f;
    q[i] = static_cast<std::uint8_t>(std::clamp(static_cast<std::int32_t>(c) + zp, 0, 127));
  }
}

// ---------------------------------------------------------------- int8 GEMM
// Accumulates one row group (32 output rows) for MR activation rows over all of K.
template <int MR>
inline void group_kernel(const std::uint8_t* qa, std::int64_t lda, const std::int8_t* wg, std::int64_t Kp,
                         std::int32_t (&out)[MR][4][8]) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[MR][4];
  static_for<MR>([&](auto m) { static_for<4>([&](auto s) { acc[m][s] = _mm256_setzero_si256(); }); });
  const std::int64_t nq = Kp / 4;
  for (std::int64_t q = 0; q < nq; ++q) {
    __m256i a[MR];
    static_for<MR>([&](auto m) {
      std::int32_t four;
      std::memcpy(&four, qa + m * lda + 4 * q, 4);
      a[m] = _mm256_set1_epi32(four);
    });
    const __m256i* wq = reinterpret_cast<const __m256i*>(wg + q * 128);
    static_for<4>([&](auto s) {
      const __m256i w = _mm256_load_si256(wq + s);
      static_for<MR>([&](auto m) {
        acc[m][s] = _mm256_add_epi32(acc[m][s], _mm256_madd_epi16(_mm256_maddubs_epi16(a[m], w), ones));
      });
    });
  }
  static_for<MR>([&](auto m) {
    static_for<4>([&](auto s) { _mm256_store_si256(reinterpret_cast<__m256i*>(out[m][s]), acc[m][s]); });
  });
}

// The end of every float GEMM epilogue: v holds columns r..r+7 of one output row; add the addend
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

template <int MR>
inline void store_i32(const GemmArgs& ar, std::int64_t m0, std::int64_t r0, const std::int32_t (&acc)[MR][4][8]) {
  for (int m = 0; m < MR; ++m)
    for (int s = 0; s < 4; ++s)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ar.acc + (m0 + m) * ar.ldacc + r0 + 8 * s),
                          _mm256_load_si256(reinterpret_cast<const __m256i*>(acc[m][s])));
}

template <int MR>
inline void store_f32(const GemmArgs& ar, std::int64_t m0, std::int64_t r0, const std::int32_t (&acc)[MR][4][8]) {
  const PackedI8& w = *ar.w;
  for (int m = 0; m < MR; ++m) {
    const std::int64_t mm = m0 + m;
    const __m256i zp = _mm256_set1_epi32(ar.zpa[mm]);
    const __m256 sa = _mm256_set1_ps(ar.sa[mm]);
    for (int s = 0; s < 4; ++s) {
      const std::int64_t r = r0 + 8 * s;
      if (r >= ar.y_cols) break;
      const __m256i colsum = _mm256_load_si256(reinterpret_cast<const __m256i*>(w.colsum.data() + r));
      const __m256 sw = _mm256_load_ps(w.scale.data() + r);
      const __m256i centered =
          _mm256_sub_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(acc[m][s])), _mm256_mullo_epi32(zp, colsum));
      const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(centered), _mm256_mul_ps(sa, sw));
      finish8(v, ar.addend ? ar.addend + mm * ar.ld_add : nullptr, ar.bias, ar.y + mm * ar.ldy, r, ar.y_cols);
    }
  }
}

template <bool F32>
void avx2_gemm(const GemmArgs& a) {
  const PackedI8& w = *a.w;
  const std::int64_t g1 = std::min(a.g1, w.groups());
  for (std::int64_t g = a.g0; g < g1; ++g) {
    const std::int8_t* wg = w.data.data() + g * kGroupRows * w.Kp;
    const std::int64_t r0 = g * kGroupRows;
    if (F32 && r0 >= a.y_cols) break;
    std::int64_t m = 0;
    for (; m + 2 <= a.M; m += 2) {
      alignas(32) std::int32_t acc[2][4][8];
      group_kernel<2>(a.qa + m * a.lda, a.lda, wg, w.Kp, acc);
      if constexpr (F32) store_f32<2>(a, m, r0, acc); else store_i32<2>(a, m, r0, acc);
    }
    if (m < a.M) {
      alignas(32) std::int32_t acc[1][4][8];
      group_kernel<1>(a.qa + m * a.lda, a.lda, wg, w.Kp, acc);
      if constexpr (F32) store_f32<1>(a, m, r0, acc); else store_i32<1>(a, m, r0, acc);
    }
  }
}

// ---------------------------------------------------------------- fp32 small-M GEMM
// MR activation rows x NP panels of 16 weight rows, one FMA chain per output over k ascending.
// x rows are read either in place (xs = 1: x[i][k] at xr[i] + k) or from a packed panel of 6
// rows (xs = 6: x[i][k] at xp + 6k + i); both give the same values, so the same results.
template <int MR, int NP, int XS>
inline void sgemm_block(const GemmF32Args& a, std::int64_t m0, std::int64_t p0, const float* xp = nullptr) {
  const PackedF32& w = *a.w;
  const std::int64_t K = w.K;
  __m256 acc[MR][2 * NP];
  static_for<MR>([&](auto i) { static_for<2 * NP>([&](auto c) { acc[i][c] = _mm256_setzero_ps(); }); });
  const float* wp = w.data.data() + p0 * 16 * K;
  const float* xr[MR];
  static_for<MR>([&](auto i) { xr[i] = XS == 1 ? a.x + (m0 + i) * a.ldx : xp + i; });
  for (std::int64_t k = 0; k < K; ++k) {
    __m256 wv[2 * NP];
    static_for<NP>([&](auto j) {
      wv[2 * j] = _mm256_load_ps(wp + j * 16 * K + 16 * k);
      wv[2 * j + 1] = _mm256_load_ps(wp + j * 16 * K + 16 * k + 8);
    });
    static_for<MR>([&](auto i) {
      const __m256 xb = _mm256_broadcast_ss(xr[i] + XS * k);
      static_for<2 * NP>([&](auto c) { acc[i][c] = _mm256_fmadd_ps(xb, wv[c], acc[i][c]); });
    });
  }
  // Spill the accumulators once with constant indices, so that inside the k loop they live in
  // registers (dynamic indexing in the epilogue would force them to memory every iteration).
  alignas(32) float res[MR][2 * NP][8];
  static_for<MR>([&](auto i) { static_for<2 * NP>([&](auto c) { _mm256_store_ps(res[i][c], acc[i][c]); }); });
  for (int i = 0; i < MR; ++i) {
    const std::int64_t m = m0 + i;
    for (int c = 0; c < 2 * NP; ++c) {
      const std::int64_t r = (p0 + c / 2) * 16 + (c % 2) * 8;
      if (r >= a.y_cols) break;
      finish8(_mm256_load_ps(res[i][c]), a.addend ? a.addend + m * a.ld_add : nullptr, a.bias, a.y + m * a.ldy, r,
              a.y_cols);
    }
  }
}

// Blocks of 4..6 rows cover one panel only: callers use NP > 1 solely when M <= 3.
template <int NP>
inline void sgemm_rows(const GemmF32Args& a, std::int64_t m0, int rows, std::int64_t p) {
  if (NP > 1 && rows > 3) __builtin_trap();  // would silently skip NP - 1 panels
  switch (rows) {
    case 1: sgemm_block<1, NP, 1>(a, m0, p); break;
    case 2: sgemm_block<2, NP, 1>(a, m0, p); break;
    case 3: sgemm_block<3, NP, 1>(a, m0, p); break;
    case 4: sgemm_block<4, 1, 1>(a, m0, p); break;
    case 5: sgemm_block<5, 1, 1>(a, m0, p); break;
    default: sgemm_block<6, 1, 1>(a, m0, p); break;
  }
}

void avx2_sgemm_packed(const GemmF32Args& a) {
  const PackedF32& w = *a.w;
  const std::int64_t p0 = 2 * a.g0, p1 = std::min({2 * a.g1, w.Np / 16, (a.y_cols + 15) / 16});
  if (p1 <= p0 || a.M == 0) return;
  const std::int64_t K = w.K;
  if (a.M >= 12) {
    // Many rows: copy full 6-row blocks of x into k-major panels once, so that the 6x16 kernel
    // reads its broadcasts from one contiguous stream; the remaining rows go through in place.
    const std::int64_t full = a.M / 6;
    thread_local AlignedBuffer<float> xpack;
    if (xpack.size() < static_cast<std::size_t>(full * 6 * K)) xpack.resize(static_cast<std::size_t>(full * 6 * K));
    for (std::int64_t b = 0; b < full; ++b)
      for (std::int64_t i = 0; i < 6; ++i) {
        const float* src = a.x + (6 * b + i) * a.ldx;
        float* dst = xpack.data() + b * 6 * K + i;
        for (std::int64_t k = 0; k < K; ++k) dst[6 * k] = src[k];
      }
    for (std::int64_t p = p0; p < p1; ++p) {
      for (std::int64_t b = 0; b < full; ++b) sgemm_block<6, 1, 6>(a, 6 * b, p, xpack.data() + b * 6 * K);
      if (a.M > 6 * full) sgemm_rows<1>(a, 6 * full, static_cast<int>(a.M - 6 * full), p);
    }
    return;
  }
  // few rows: several panels per pass for independent FMA chains; else blocks of up to 6 rows
  const int np = a.M == 1 ? 4 : a.M <= 3 ? 2 : 1;
  std::int64_t p = p0;
  auto mloop = [&](std::int64_t panel, int npanels) {
    for (std::int64_t m = 0; m < a.M;) {
      const int rows = static_cast<int>(std::min<std::int64_t>(a.M - m, 6));
      if (npanels == 4) sgemm_rows<4>(a, m, rows, panel);
      else if (npanels == 2) sgemm_rows<2>(a, m, rows, panel);
      else sgemm_rows<1>(a, m, rows, panel);
      m += rows;
    }
  };
  for (; p + np <= p1; p += np) mloop(p, np);
  for (; p < p1; ++p) mloop(p, 1);
}

const Table kAvx2Table = {
    Isa::Avx2,    avx2_gemm<false>, avx2_gemm<true>, avx2_sgemm_packed, avx2_minmax, avx2_quantize_u7, avx2_exp,     avx2_tanh,
    avx2_sigmoid, avx2_max,         avx2_max_sumexp, avx2_exp_sum, avx2_exp_scale_store, avx2_lstm_fwd, avx2_lstm_bwd,
};

}  // namespace

const Table* avx2_table() noexcept { return &kAvx2Table; }

bool avx2_dot_u8s8_saturating(const std::uint8_t* a, const std::int8_t* w, std::int64_t n, std::int32_t* out) {
  if (!cpu_has_avx2_fma()) return false;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(va, vw), ones));
  }
  alignas(32) std::int32_t l[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(l), acc);
  std::int32_t sum = 0;
  for (int k = 0; k < 8; ++k) sum += l[k];
  for (; i < n; ++i) sum += static_cast<std::int32_t>(a[i]) * w[i];
  *out = sum;
  return true;
}

}  // namespace wordlm::kernels
