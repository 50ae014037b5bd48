// AVX-512 elementwise kernels: exp/sigmoid/tanh, the softmax reductions, the LSTM cell (both
// layouts, and its backward), activation quantization, 16 lanes at a time. Each performs the
// same IEEE operations in the same order as its scalar reference (ref.cpp / mathfn.hpp) lane by
// lane, and the reductions keep the 16-lane order of the contract (kernels.hpp), so results are
// bit-identical to the scalar and AVX2 tables.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/avx512_common.hpp"
#include "kernels/mathfn.hpp"

namespace wordlm::kernels::avx512 {

using namespace mathfn;

namespace {

inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(kExpLo), x);  // max/min return the 2nd operand on NaN: NaN passes
  x = _mm512_min_ps(_mm512_set1_ps(kExpHi), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Hi), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP5));
  const __m512 r2 = _mm512_mul_ps(r, r);
  __m512 y = _mm512_fmadd_ps(p, r2, r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  const __m512i ni = _mm512_cvtps_epi32(n);
  const __m512 pow2n = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
  return _mm512_mul_ps(y, pow2n);
}

inline __m512 sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 neg = _mm512_xor_ps(x, _mm512_set1_ps(-0.0f));
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(neg)));
}

inline __m512 tanh16(__m512 x) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 ax = _mm512_andnot_ps(sign, x);
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(kTanhT17);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhT15));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhT13));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhT11));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhT9));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhT7));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhT5));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhT3));
  const __m512 t = _mm512_mul_ps(p, x2);
  const __m512 small = _mm512_fmadd_ps(t, x, x);
  const __m512 e = exp16(_mm512_mul_ps(_mm512_set1_ps(-2.0f), ax));
  const __m512 r = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
  const __m512 large = _mm512_or_ps(_mm512_andnot_ps(sign, r), _mm512_and_ps(sign, x));
  const __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(kTanhSmall), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, large, small);
}

inline __mmask16 first(std::int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// y[0..n) = f(x[0..n)), masked tail
template <class F>
inline void map16(const float* x, float* y, std::int64_t n, F f) {
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = first(n - i);
    _mm512_mask_storeu_ps(y + i, k, f(_mm512_maskz_loadu_ps(k, x + i)));
  }
}

inline __m512 cell(__m512 i, __m512 f, __m512 g, __m512 o, __m512 cp, __m512* cn, __m512* t) {
  *cn = _mm512_add_ps(_mm512_mul_ps(f, cp), _mm512_mul_ps(i, g));
  *t = tanh16(*cn);
  return _mm512_mul_ps(o, *t);
}

}  // namespace

void exp(const float* x, float* y, std::int64_t n) { map16(x, y, n, exp16); }
void tanh(const float* x, float* y, std::int64_t n) { map16(x, y, n, tanh16); }
void sigmoid(const float* x, float* y, std::int64_t n) { map16(x, y, n, sigmoid16); }

void sumexp_lanes(const float* x, std::int64_t n, float* ml, float* sl) {
  __m512 m = _mm512_loadu_ps(ml), s = _mm512_loadu_ps(sl);
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 mn = _mm512_max_ps(v, m);  // (v > m) ? v : m, as the scalar
    const __m512 e2 = exp16(_mm512_sub_ps(v, mn));
    if (_mm512_cmp_ps_mask(mn, m, _CMP_NEQ_UQ) == 0) {
      s = _mm512_add_ps(s, e2);  // no lane's max moved: exp(0) = 1 exactly, s * 1 = s
    } else {
      s = _mm512_add_ps(_mm512_mul_ps(s, exp16(_mm512_sub_ps(m, mn))), e2);
    }
    m = mn;
  }
  _mm512_storeu_ps(ml, m);
  _mm512_storeu_ps(sl, s);
  for (; i < n; ++i) {  // the tail continues each lane exactly as the scalar reference does
    const int l = static_cast<int>(i % 16);
    const float mn = x[i] > ml[l] ? x[i] : ml[l];
    sl[l] = sl[l] * exp_ref(ml[l] - mn) + exp_ref(x[i] - mn);
    ml[l] = mn;
  }
}

float max_sumexp(const float* x, std::int64_t n, float* mx) {
  alignas(64) float ml[16], sl[16] = {};
  for (auto& v : ml) v = -__builtin_inff();
  sumexp_lanes(x, n, ml, sl);
  return sumexp_finish(ml, sl, mx);
}

float exp_sum(const float* x, std::int64_t n, float shift) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < n; i += 16) {  // lanes past n add +0.0, as in the scalar
    const __mmask16 k = first(n - i);
    acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s))));
  }
  alignas(64) float l[16];
  _mm512_store_ps(l, acc);
  float t[8];
  for (int i = 0; i < 8; ++i) t[i] = l[i] + l[i + 8];
  return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
}

void exp_scale_store(float* x, std::int64_t n, float shift, float s) {
  const __m512 sh = _mm512_set1_ps(shift), sv = _mm512_set1_ps(s);
  map16(x, x, n, [&](__m512 v) { return _mm512_mul_ps(exp16(_mm512_sub_ps(v, sh)), sv); });
}

void lstm_fwd(std::int64_t n, float* zi, float* zf, float* zg, float* zo, const float* c_prev, float* c, float* h,
              float* tc) {
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = first(n - j);
    const __m512 i = sigmoid16(_mm512_maskz_loadu_ps(k, zi + j)), f = sigmoid16(_mm512_maskz_loadu_ps(k, zf + j)),
                 g = tanh16(_mm512_maskz_loadu_ps(k, zg + j)), o = sigmoid16(_mm512_maskz_loadu_ps(k, zo + j));
    __m512 cn, t;
    const __m512 hv = cell(i, f, g, o, _mm512_maskz_loadu_ps(k, c_prev + j), &cn, &t);
    _mm512_mask_storeu_ps(zi + j, k, i);
    _mm512_mask_storeu_ps(zf + j, k, f);
    _mm512_mask_storeu_ps(zg + j, k, g);
    _mm512_mask_storeu_ps(zo + j, k, o);
    _mm512_mask_storeu_ps(c + j, k, cn);
    if (tc) _mm512_mask_storeu_ps(tc + j, k, t);
    _mm512_mask_storeu_ps(h + j, k, hv);
  }
}

void lstm_bwd(std::int64_t n, float* ai, float* af, float* ag, float* ao, const float* c_prev, const float* tc,
              const float* dh, float* dc) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = first(n - j);
    auto ld = [&](const float* p) { return _mm512_maskz_loadu_ps(k, p + j); };
    const __m512 vi = ld(ai), vf = ld(af), vg = ld(ag), vo = ld(ao), cp = ld(c_prev), t = ld(tc), d = ld(dh), dcn = ld(dc);
    const __m512 dct = _mm512_add_ps(dcn, _mm512_mul_ps(_mm512_mul_ps(d, vo), _mm512_sub_ps(one, _mm512_mul_ps(t, t))));
    const __m512 dzo = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, t), vo), _mm512_sub_ps(one, vo));
    const __m512 dzi = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dct, vg), vi), _mm512_sub_ps(one, vi));
    const __m512 dzg = _mm512_mul_ps(_mm512_mul_ps(dct, vi), _mm512_sub_ps(one, _mm512_mul_ps(vg, vg)));
    const __m512 dzf = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dct, cp), vf), _mm512_sub_ps(one, vf));
    _mm512_mask_storeu_ps(dc + j, k, _mm512_mul_ps(dct, vf));
    _mm512_mask_storeu_ps(ai + j, k, dzi);
    _mm512_mask_storeu_ps(af + j, k, dzf);
    _mm512_mask_storeu_ps(ag + j, k, dzg);
    _mm512_mask_storeu_ps(ao + j, k, dzo);
  }
}

// Two blocks of 8 units per 16 lanes: gate g of units 8u..8u+15 is z[32u + 8g ..] ++ z[32u + 32 + 8g ..].
void lstm_fwd_blocked(std::int64_t units, const float* z, const float* c_prev, float* c, float* h) {
  std::int64_t j = 0;
  auto gate = [&](int g) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(z + 8 * g)), _mm256_loadu_ps(z + 32 + 8 * g), 1);
  };
  for (; j + 16 <= units; j += 16, z += 64) {
    __m512 cn, t;
    const __m512 hv = cell(sigmoid16(gate(0)), sigmoid16(gate(1)), tanh16(gate(2)), sigmoid16(gate(3)),
                           _mm512_loadu_ps(c_prev + j), &cn, &t);
    _mm512_storeu_ps(c + j, cn);
    _mm512_storeu_ps(h + j, hv);
  }
  if (j < units) {  // up to 15 units left: one or two blocks, masked
    const __mmask16 k = first(units - j);
    auto part = [&](int g) {
      const __m256 lo = _mm256_loadu_ps(z + 8 * g);
      const __m256 hi = units - j > 8 ? _mm256_loadu_ps(z + 32 + 8 * g) : _mm256_setzero_ps();
      return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
    };
    __m512 cn, t;
    const __m512 hv = cell(sigmoid16(part(0)), sigmoid16(part(1)), tanh16(part(2)), sigmoid16(part(3)),
                           _mm512_maskz_loadu_ps(k, c_prev + j), &cn, &t);
    _mm512_mask_storeu_ps(c + j, k, cn);
    _mm512_mask_storeu_ps(h + j, k, hv);
  }
}

bool minmax(const float* x, std::int64_t n, float* lo, float* hi) {
  if (n < 16) return avx2_table()->minmax(x, n, lo, hi);
  const __m512 inf = _mm512_set1_ps(__builtin_inff());
  __m512 vl = _mm512_loadu_ps(x), vh = vl;
  __mmask16 bad = 0;
  for (std::int64_t i = 0; i < n; i += 16) {  // the last block overlaps the previous one: min/max allow it
    const __m512 v = _mm512_loadu_ps(x + std::min(i, n - 16));
    vl = _mm512_min_ps(vl, v);
    vh = _mm512_max_ps(vh, v);
    bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(v), inf, _CMP_NLT_UQ);  // |v| >= inf or NaN
  }
  *lo = _mm512_reduce_min_ps(vl);
  *hi = _mm512_reduce_max_ps(vh);
  return bad == 0;
}

void quantize_u7(const float* x, std::int64_t n, float inv_scale, std::int32_t zp, std::uint8_t* q) {
  const __m512 inv = _mm512_set1_ps(inv_scale);
  const __m512i z = _mm512_set1_epi32(zp);
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = first(n - i);
    __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_max_ps(v, _mm512_set1_ps(-1024.0f));  // (v > -1024) ? v : -1024: NaN -> -1024
    v = _mm512_min_ps(v, _mm512_set1_ps(1024.0f));
    __m512i qi = _mm512_add_epi32(_mm512_cvtps_epi32(v), z);
    qi = _mm512_min_epi32(_mm512_max_epi32(qi, _mm512_setzero_si512()), _mm512_set1_epi32(127));
    _mm_mask_storeu_epi8(q + i, k, _mm512_cvtepi32_epi8(qi));
  }
}

}  // namespace wordlm::kernels::avx512
