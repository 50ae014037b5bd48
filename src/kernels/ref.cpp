// The scalar reference kernels: the specification every SIMD table is tested against, and the
// fallback on CPUs without AVX2. Plain loops, no intrinsics.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernels.hpp"
#include "kernels/mathfn.hpp"

namespace wordlm::kernels {

namespace {

void ref_gemm_i32(const GemmArgs& a) {
  const PackedI8& w = *a.w;
  const std::int64_t r0 = a.g0 * kGroupRows, r1 = std::min(a.g1 * kGroupRows, w.Np);
  for (std::int64_t m = 0; m < a.M; ++m)
    for (std::int64_t r = r0; r < r1; ++r) {
      std::int32_t acc = 0;
      for (std::int64_t k = 0; k < w.Kp; ++k)
        acc += static_cast<std::int32_t>(a.qa[m * a.lda + k]) * static_cast<std::int32_t>(packed_at(w, r, k));
      a.acc[m * a.ldacc + r] = acc;
    }
}

// The epilogue, one element; the AVX2 kernel performs exactly these operations.
inline float dequant(std::int32_t acc, std::int32_t zp, std::int32_t colsum, float sa, float sw) {
  const std::int32_t centered = acc - zp * colsum;
  const float s = sa * sw;
  return static_cast<float>(centered) * s;
}

void ref_gemm_f32(const GemmArgs& a) {
  const PackedI8& w = *a.w;
  const std::int64_t r0 = a.g0 * kGroupRows, r1 = std::min({a.g1 * kGroupRows, w.Np, a.y_cols});
  for (std::int64_t m = 0; m < a.M; ++m)
    for (std::int64_t r = r0; r < r1; ++r) {
      std::int32_t acc = 0;
      for (std::int64_t k = 0; k < w.Kp; ++k)
        acc += static_cast<std::int32_t>(a.qa[m * a.lda + k]) * static_cast<std::int32_t>(packed_at(w, r, k));
      float v = dequant(acc, a.zpa[m], w.colsum[static_cast<std::size_t>(r)], a.sa[m], w.scale[static_cast<std::size_t>(r)]);
      if (a.addend) v = v + a.addend[m * a.ld_add + r];
      if (a.bias) v = v + a.bias[r];
      a.y[m * a.ldy + r] = v;
    }
}

// 4-bit: the grouped integer core and the epilogue of the contract in kernels.hpp, element by element.
std::int32_t acc4(const Gemm4Args& a, std::int64_t m, std::int64_t r, std::int64_t g) {
  const PackedI4& w = *a.w;
  std::int32_t acc = 0;
  for (std::int64_t k = g * w.G; k < (g + 1) * w.G; ++k)
    acc += static_cast<std::int32_t>(a.qa[m * a.lda + k]) * static_cast<std::int32_t>(packed_at(w, r, k));
  return acc;
}

void ref_gemm4_i32(const Gemm4Args& a) {
  const PackedI4& w = *a.w;
  const std::int64_t r0 = a.g0 * kGroupRows, r1 = std::min(a.g1 * kGroupRows, w.Np);
  for (std::int64_t m = 0; m < a.M; ++m)
    for (std::int64_t g = 0; g < w.nG; ++g)
      for (std::int64_t r = r0; r < r1; ++r) a.acc[(m * w.nG + g) * a.ldacc + r] = acc4(a, m, r, g);
}

void ref_gemm4_f32(const Gemm4Args& a) {
  const PackedI4& w = *a.w;
  const std::int64_t r0 = a.g0 * kGroupRows, r1 = std::min({a.g1 * kGroupRows, w.Np, a.y_cols});
  for (std::int64_t m = 0; m < a.M; ++m)
    for (std::int64_t r = r0; r < r1; ++r) {
      float v = 0.0f;
      for (std::int64_t g = 0; g < w.nG; ++g) {
        const auto i = static_cast<std::size_t>(g * w.Np + r);
        const std::int32_t centered = acc4(a, m, r, g) - a.zpa[m] * w.colsum[i];
        v = v + static_cast<float>(centered) * w.scale[i];
      }
      v = v * a.sa[m];
      if (a.addend) v = v + a.addend[m * a.ld_add + r];
      if (a.bias) v = v + a.bias[r];
      a.y[m * a.ldy + r] = v;
    }
}

void ref_sgemm_packed(const GemmF32Args& a) {
  const PackedF32& w = *a.w;
  const std::int64_t r0 = a.g0 * kGroupRows, r1 = std::min({a.g1 * kGroupRows, w.Np, a.y_cols});
  for (std::int64_t m = 0; m < a.M; ++m)
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* panel = w.data.data() + (r / 16) * 16 * w.K + (r % 16);
      const float* x = a.x + m * a.ldx;
      float acc = 0.0f;
      for (std::int64_t k = 0; k < w.K; ++k) acc = std::fma(x[k * a.ldx_k], panel[k * 16], acc);
      float v = acc;
      if (a.addend) v = v + a.addend[m * a.ld_add + r];
      if (a.bias) v = v + a.bias[r];
      a.y[m * a.ldy + r] = v;
    }
}

bool ref_minmax(const float* x, std::int64_t n, float* lo, float* hi) {
  float l = x[0], h = x[0];
  bool finite = true;
  for (std::int64_t i = 0; i < n; ++i) {
    finite &= std::isfinite(x[i]);
    l = std::min(l, x[i]);
    h = std::max(h, x[i]);
  }
  *lo = l, *hi = h;
  return finite;
}

void ref_quantize_u7(const float* x, std::int64_t n, float inv_scale, std::int32_t zp, std::uint8_t* q) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = std::nearbyint(x[i] * inv_scale);
    // v is integral; clamp in float first so the conversion is always defined (NaN -> -1024,
    // which then clamps to 0; callers report non-finite input separately)
    const float lo = v > -1024.0f ? v : -1024.0f;
    const float c = lo < 1024.0f ? lo : 1024.0f;
    std::int32_t qi = static_cast<std::int32_t>(c) + zp;
    q[i] = static_cast<std::uint8_t>(std::clamp(qi, 0, 127));
  }
}

void ref_exp(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = mathfn::exp_ref(x[i]);
}
void ref_tanh(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = mathfn::tanh_ref(x[i]);
}
void ref_sigmoid(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = mathfn::sigmoid_ref(x[i]);
}

float ref_max(const float* x, std::int64_t n) {
  float m = x[0];
  for (std::int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

inline float reduce8(const float* l) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }
inline float reduce16(const float* l) {
  float t[8];
  for (int i = 0; i < 8; ++i) t[i] = l[i] + l[i + 8];
  return reduce8(t);
}

void ref_sumexp_lanes(const float* x, std::int64_t n, float* m, float* sl) {
  for (std::int64_t i = 0; i < n; ++i) {
    const int l = static_cast<int>(i % 16);
    const float mn = x[i] > m[l] ? x[i] : m[l];
    sl[l] = sl[l] * mathfn::exp_ref(m[l] - mn) + mathfn::exp_ref(x[i] - mn);
    m[l] = mn;
  }
}

float ref_max_sumexp(const float* x, std::int64_t n, float* mx) {
  float m[16], sl[16] = {};
  for (auto& v : m) v = -std::numeric_limits<float>::infinity();
  ref_sumexp_lanes(x, n, m, sl);
  return sumexp_finish(m, sl, mx);
}

float ref_exp_sum(const float* x, std::int64_t n, float shift) {
  float lane[16] = {};
  for (std::int64_t i = 0; i < n; ++i) lane[i % 16] += mathfn::exp_ref(x[i] - shift);
  return reduce16(lane);
}

void ref_exp_scale_store(float* x, std::int64_t n, float shift, float s) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = mathfn::exp_ref(x[i] - shift) * s;
}

void ref_lstm_fwd(std::int64_t n, float* zi, float* zf, float* zg, float* zo, const float* c_prev, float* c,
                  float* h, float* tc) {
  for (std::int64_t j = 0; j < n; ++j) {
    float t;
    mathfn::lstm_cell_fwd_one<float>(zi[j], zf[j], zg[j], zo[j], c_prev[j], c[j], h[j], t);
    if (tc) tc[j] = t;
  }
}

void ref_lstm_bwd(std::int64_t n, float* ai, float* af, float* ag, float* ao, const float* c_prev, const float* tc,
                  const float* dh, float* dc) {
  for (std::int64_t j = 0; j < n; ++j)
    mathfn::lstm_cell_bwd_one<float>(ai[j], af[j], ag[j], ao[j], c_prev[j], tc[j], dh[j], dc[j]);
}

void ref_lstm_fwd_blocked(std::int64_t units, const float* z, const float* c_prev, float* c, float* h) {
  for (std::int64_t j = 0; j < units; ++j) {
    const float* b = z + 32 * (j / 8) + j % 8;
    float zi = b[0], zf = b[8], zg = b[16], zo = b[24], t;
    mathfn::lstm_cell_fwd_one<float>(zi, zf, zg, zo, c_prev[j], c[j], h[j], t);
  }
}

}  // namespace

float sumexp_finish(const float* m, const float* s, float* mx) noexcept {
  float M = m[0];
  for (int l = 1; l < 16; ++l) M = m[l] > M ? m[l] : M;
  float t[16];
  for (int l = 0; l < 16; ++l) t[l] = s[l] * mathfn::exp_ref(m[l] - M);
  *mx = M;
  return reduce16(t);
}

const Table kScalarTable = {
    Isa::Scalar,  ref_gemm_i32, ref_gemm_f32,     ref_sgemm_packed, ref_minmax, ref_quantize_u7, ref_exp,      ref_tanh,
    ref_sigmoid,  ref_max,      ref_max_sumexp, ref_exp_sum, ref_exp_scale_store, ref_lstm_fwd, ref_lstm_bwd,
    ref_gemm4_i32, ref_gemm4_f32, ref_lstm_fwd_blocked, ref_sumexp_lanes,
};

}  // namespace wordlm::kernels
