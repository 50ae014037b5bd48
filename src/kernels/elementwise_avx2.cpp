// AVX2 + FMA elementwise kernels: fp32 math, softmax reductions, the LSTM cell, activation
// quantization. Each performs the same IEEE operations in the same order as its scalar reference
// (ref.cpp / mathfn.hpp), lane by lane, so results are bit-identical.
#include <algorithm>
#include <cstring>

#include "kernels/avx2_common.hpp"

namespace wordlm::kernels::avx2 {

void exp(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = exp_ref(x[i]);
}
void tanh(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, tanh8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = tanh_ref(x[i]);
}
void sigmoid(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, sigmoid8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = sigmoid_ref(x[i]);
}

float max(const float* x, std::int64_t n) {
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

// One 8-lane half of the 16-lane online max / sum-exp (lanes 0-7 or 8-15 of the contract).
inline void max_sumexp_step(__m256 v, __m256& m, __m256& s) {
  const __m256 mn = _mm256_max_ps(v, m);  // (v > m) ? v : m, as the scalar
  const __m256 e2 = exp8(_mm256_sub_ps(v, mn));
  if (_mm256_movemask_ps(_mm256_cmp_ps(mn, m, _CMP_NEQ_UQ)) == 0) {
    s = _mm256_add_ps(s, e2);  // no lane's max moved: exp(0) = 1 exactly, s * 1 = s
  } else {
    s = _mm256_add_ps(_mm256_mul_ps(s, exp8(_mm256_sub_ps(m, mn))), e2);
  }
  m = mn;
}

void sumexp_lanes(const float* x, std::int64_t n, float* ml, float* sl) {
  __m256 m0 = _mm256_loadu_ps(ml), m1 = _mm256_loadu_ps(ml + 8), s0 = _mm256_loadu_ps(sl), s1 = _mm256_loadu_ps(sl + 8);
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    max_sumexp_step(_mm256_loadu_ps(x + i), m0, s0);
    max_sumexp_step(_mm256_loadu_ps(x + i + 8), m1, s1);
  }
  _mm256_storeu_ps(ml, m0), _mm256_storeu_ps(ml + 8, m1);
  _mm256_storeu_ps(sl, s0), _mm256_storeu_ps(sl + 8, s1);
  sumexp_tail(x, i, n, ml, sl);
}

float max_sumexp(const float* x, std::int64_t n, float* mx) {
  alignas(32) float ml[16], sl[16] = {};
  for (auto& v : ml) v = -__builtin_inff();
  sumexp_lanes(x, n, ml, sl);
  return sumexp_finish(ml, sl, mx);
}

float exp_sum(const float* x, std::int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_add_ps(acc0, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
    acc1 = _mm256_add_ps(acc1, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), s)));
  }
  // lanes past n add +0.0, which leaves every lane's sum unchanged, as in the scalar
  auto tail = [&](__m256& acc, std::int64_t at) {
    if (at >= n) return;
    const __m256i mask = tail_mask(n - at);
    acc = _mm256_add_ps(acc, _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + at, mask), s)), _mm256_castsi256_ps(mask)));
  };
  tail(acc0, i);
  tail(acc1, i + 8);
  return reduce8(_mm256_add_ps(acc0, acc1));
}

void exp_scale_store(float* x, std::int64_t n, float shift, float s) {
  const __m256 sh = _mm256_set1_ps(shift), sv = _mm256_set1_ps(s);
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh)), sv));
  for (; i < n; ++i) x[i] = exp_ref(x[i] - shift) * s;
}

void lstm_fwd(std::int64_t n, float* zi, float* zf, float* zg, float* zo, const float* c_prev, float* c,
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

void lstm_bwd(std::int64_t n, float* ai, float* af, float* ag, float* ao, const float* c_prev, const float* tc,
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

void lstm_fwd_blocked(std::int64_t units, const float* z, const float* c_prev, float* c, float* h) {
  std::int64_t j = 0;
  for (; j + 8 <= units; j += 8, z += 32) {
    const __m256 i = sigmoid8(_mm256_loadu_ps(z)), f = sigmoid8(_mm256_loadu_ps(z + 8)),
                 g = tanh8(_mm256_loadu_ps(z + 16)), o = sigmoid8(_mm256_loadu_ps(z + 24));
    const __m256 cn = _mm256_add_ps(_mm256_mul_ps(f, _mm256_loadu_ps(c_prev + j)), _mm256_mul_ps(i, g));
    _mm256_storeu_ps(c + j, cn);
    _mm256_storeu_ps(h + j, _mm256_mul_ps(o, tanh8(cn)));
  }
  for (std::int64_t l = 0; j < units; ++j, ++l) {
    float zi = z[l], zf = z[8 + l], zg = z[16 + l], zo = z[24 + l], t;
    lstm_cell_fwd_one<float>(zi, zf, zg, zo, c_prev[j], c[j], h[j], t);
  }
}

// ---------------------------------------------------------------- int8 quantization
bool minmax(const float* x, std::int64_t n, float* lo, float* hi) {
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

void quantize_u7(const float* x, std::int64_t n, float inv_scale, std::int32_t zp, std::uint8_t* q) {
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

}  // namespace wordlm::kernels::avx2
