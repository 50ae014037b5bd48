// Scalar elementwise math: the specification of every fp32 nonlinearity wordlm computes.
// exp/sigmoid/tanh for float are written as an exact sequence of IEEE operations (fma where
// shown, no other contraction: the build uses -ffp-contract=off), so the AVX2 kernels, which
// perform the same operations lane by lane, produce bit-identical results; tests check that.
// For double (the gradient-check reference model) they are the libm functions.
//
// exp: Cephes-style range reduction x = n*ln2 + r and a degree-6 polynomial, |rel err| < 2 ulp on
// the clamped range [-87.33654, 88.37626]; outside it the input is clamped (exp(-100) returns
// ~1.2e-38 rather than a denormal, which no softmax or sigmoid can tell apart).
// tanh: odd Taylor series to x^17 for |x| < 0.55, (1 - e)/(1 + e) with e = exp(-2|x|) beyond.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace wordlm::mathfn {

inline constexpr float kExpLo = -87.33654f;
inline constexpr float kExpHi = 88.37626f;
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;
inline constexpr float kExpP0 = 1.9875691500e-4f;
inline constexpr float kExpP1 = 1.3981999507e-3f;
inline constexpr float kExpP2 = 8.3334519073e-3f;
inline constexpr float kExpP3 = 4.1665795894e-2f;
inline constexpr float kExpP4 = 1.6666665459e-1f;
inline constexpr float kExpP5 = 5.0000001201e-1f;

inline constexpr float kTanhSmall = 0.55f;
// tanh(x) = x + x^3 * (T3 + x^2 (T5 + x^2 (T7 + ...)))  (Taylor coefficients)
inline constexpr float kTanhT3 = -1.0f / 3.0f;
inline constexpr float kTanhT5 = 2.0f / 15.0f;
inline constexpr float kTanhT7 = -17.0f / 315.0f;
inline constexpr float kTanhT9 = 62.0f / 2835.0f;
inline constexpr float kTanhT11 = -1382.0f / 155925.0f;
inline constexpr float kTanhT13 = 21844.0f / 6081075.0f;
inline constexpr float kTanhT15 = -929569.0f / 638512875.0f;
inline constexpr float kTanhT17 = 6404582.0f / 10854718875.0f;

inline float exp_ref(float x) {
  x = x < kExpLo ? kExpLo : x;  // written so NaN passes through, as the SIMD max/min do
  x = x > kExpHi ? kExpHi : x;
  const float n = std::nearbyint(x * kLog2e);
  float r = std::fma(n, -kLn2Hi, x);
  r = std::fma(n, -kLn2Lo, r);
  float p = kExpP0;
  p = std::fma(p, r, kExpP1);
  p = std::fma(p, r, kExpP2);
  p = std::fma(p, r, kExpP3);
  p = std::fma(p, r, kExpP4);
  p = std::fma(p, r, kExpP5);
  const float r2 = r * r;
  float y = std::fma(p, r2, r);
  y = y + 1.0f;
  // 2^n by building the exponent field; n is in [-126, 127] after the clamp (NaN: any bits).
  const std::int32_t ni = std::isnan(n) ? 0 : static_cast<std::int32_t>(n);
  const std::uint32_t bits = static_cast<std::uint32_t>(ni + 127) << 23;
  float pow2n;
  std::memcpy(&pow2n, &bits, 4);
  return y * pow2n;
}

inline float sigmoid_ref(float x) { return 1.0f / (1.0f + exp_ref(-x)); }

inline float tanh_ref(float x) {
  const float ax = std::fabs(x);
  if (ax < kTanhSmall) {
    const float x2 = x * x;
    float p = kTanhT17;
    p = std::fma(p, x2, kTanhT15);
    p = std::fma(p, x2, kTanhT13);
    p = std::fma(p, x2, kTanhT11);
    p = std::fma(p, x2, kTanhT9);
    p = std::fma(p, x2, kTanhT7);
    p = std::fma(p, x2, kTanhT5);
    p = std::fma(p, x2, kTanhT3);
    const float t = p * x2;
    return std::fma(t, x, x);
  }
  const float e = exp_ref(-2.0f * ax);
  const float r = (1.0f - e) / (1.0f + e);
  return std::copysign(r, x);
}

// Generic forms: float uses the reference kernels above, double uses libm.
template <class T> inline T exp_t(T x);
template <> inline float exp_t<float>(float x) { return exp_ref(x); }
template <> inline double exp_t<double>(double x) { return std::exp(x); }
template <class T> inline T sigmoid_t(T x);
template <> inline float sigmoid_t<float>(float x) { return sigmoid_ref(x); }
template <> inline double sigmoid_t<double>(double x) { return 1.0 / (1.0 + std::exp(-x)); }
template <class T> inline T tanh_t(T x);
template <> inline float tanh_t<float>(float x) { return tanh_ref(x); }
template <> inline double tanh_t<double>(double x) { return std::tanh(x); }

// The LSTM cell, one unit at a time (PyTorch gate order i, f, g, o). Forward overwrites the four
// pre-activations with the activations i, f, g, o (kept for backward) and writes c, h, tanh(c).
template <class T>
inline void lstm_cell_fwd_one(T& zi, T& zf, T& zg, T& zo, T c_prev, T& c, T& h, T& tc) {
  const T i = sigmoid_t<T>(zi), f = sigmoid_t<T>(zf), g = tanh_t<T>(zg), o = sigmoid_t<T>(zo);
  const T fc = f * c_prev;
  const T ig = i * g;
  const T cn = fc + ig;
  const T t = tanh_t<T>(cn);
  zi = i, zf = f, zg = g, zo = o;
  c = cn;
  tc = t;
  h = o * t;
}

// Backward of the cell for one unit. In: activations (ai, af, ag, ao), c_prev, tanh(c), dh (all
// gradient reaching h_t), dc (gradient reaching c_t from step t+1). Out: the four activations are
// overwritten with the pre-activation gradients dz; dc becomes the gradient for c_{t-1}.
template <class T>
inline void lstm_cell_bwd_one(T& ai, T& af, T& ag, T& ao, T c_prev, T tc, T dh, T& dc) {
  const T one = T(1);
  const T dct = dc + dh * ao * (one - tc * tc);
  const T dzo = dh * tc * ao * (one - ao);
  const T dzi = dct * ag * ai * (one - ai);
  const T dzg = dct * ai * (one - ag * ag);
  const T dzf = dct * c_prev * af * (one - af);
  dc = dct * af;
  ai = dzi, af = dzf, ag = dzg, ao = dzo;
}

}  // namespace wordlm::mathfn
