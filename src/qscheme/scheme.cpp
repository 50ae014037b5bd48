// Weight quantization (offline) and activation quantization helpers (run time).
#include "qscheme/scheme.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/half.hpp"

namespace wordlm {

const char* granularity_name(WeightGranularity g) noexcept { return g == WeightGranularity::PerRow ? "per-row" : "per-tensor"; }
const char* granularity_name(ActGranularity g) noexcept { return g == ActGranularity::PerRow ? "per-row" : "per-tensor"; }

WeightGranularity parse_weight_granularity(const std::string& s) {
  if (s == "per-row" || s == "per-channel") return WeightGranularity::PerRow;
  if (s == "per-tensor") return WeightGranularity::PerTensor;
  throw_usage("granularity must be per-row or per-tensor, not '" + s + "'");
}

ActGranularity parse_act_granularity(const std::string& s) {
  if (s == "per-row" || s == "per-token") return ActGranularity::PerRow;
  if (s == "per-tensor") return ActGranularity::PerTensor;
  throw_usage("activation granularity must be per-row or per-tensor, not '" + s + "'");
}

QuantizedWeight quantize_weight(const float* w, std::int64_t N, std::int64_t K, WeightGranularity g,
                                const std::string& name) {
  QuantizedWeight out;
  out.q.resize(static_cast<std::size_t>(N * K));
  for (std::int64_t i = 0; i < N * K; ++i)
    if (!std::isfinite(w[i])) throw_data("cannot quantize '" + name + "': element " + std::to_string(i) + " is not finite");
  auto row_scale = [&](std::int64_t r0, std::int64_t r1) {
    float m = 0;
    for (std::int64_t i = r0 * K; i < r1 * K; ++i) m = std::max(m, std::fabs(w[i]));
    return int8_scale(m);
  };
  if (g == WeightGranularity::PerTensor) out.scale.push_back(row_scale(0, N));
  else
    for (std::int64_t n = 0; n < N; ++n) out.scale.push_back(row_scale(n, n + 1));
  double err2 = 0, ref2 = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    const float s = out.scale[g == WeightGranularity::PerTensor ? 0 : static_cast<std::size_t>(n)];
    for (std::int64_t k = 0; k < K; ++k) {
      const float v = w[n * K + k];
      const std::int8_t q = int8_code(v, s);
      out.q[static_cast<std::size_t>(n * K + k)] = q;
      const double e = double(v) - double(q) * double(s);
      out.max_abs_err = std::max(out.max_abs_err, std::abs(e));
      err2 += e * e;
      ref2 += double(v) * double(v);
    }
  }
  out.rel_rms_err = ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
  return out;
}

float int8_scale(float max_abs) noexcept {
  const float sc = max_abs / 127.0f;
  // an all-zero row, or one so small that its scale would be subnormal: scale 1, all zeros
  return sc >= std::numeric_limits<float>::min() ? sc : 1.0f;
}

std::int8_t int8_code(float w, float scale) noexcept {
  return static_cast<std::int8_t>(std::clamp(std::nearbyint(w / scale), -127.0f, 127.0f));  // half to even
}

bool quantize_row4(const float* w, std::int64_t K, std::int64_t G, std::int8_t* q, float* scale) noexcept {
  for (std::int64_t g = 0; g < K / G; ++g) {
    const float* x = w + g * G;
    float m = 0;
    for (std::int64_t k = 0; k < G; ++k) m = std::max(m, std::fabs(x[k]));
    // the scale as stored (F16): codes are rounded against exactly the value the kernels use
    float sc = round_to_f16(m / 7.0f);
    if (!std::isfinite(sc)) return false;
    if (!(sc > 0.0f)) sc = 1.0f;  // an all-zero (or vanishing) group: scale 1, all zeros
    scale[g] = sc;
    for (std::int64_t k = 0; k < G; ++k)
      q[g * G + k] = static_cast<std::int8_t>(std::clamp(std::nearbyint(x[k] / sc), -7.0f, 7.0f));
  }
  return true;
}

std::int64_t default_group4(std::int64_t K) noexcept {
  for (std::int64_t g = 64; g >= 8; g -= 8)
    if (K % g == 0) return g;
  return 0;
}

QuantizedWeight4 quantize_weight4(const float* w, std::int64_t N, std::int64_t K, std::int64_t G, const std::string& name) {
  if (G < 8 || G % 8 != 0 || K % G != 0)
    throw_usage("cannot quantize '" + name + "' to 4 bits in groups of " + std::to_string(G) + ": the group size must be a "
                "multiple of 8 that divides its " + std::to_string(K) + " inputs");
  for (std::int64_t i = 0; i < N * K; ++i)
    if (!std::isfinite(w[i])) throw_data("cannot quantize '" + name + "': element " + std::to_string(i) + " is not finite");
  QuantizedWeight4 out;
  out.q.resize(static_cast<std::size_t>(N * K));
  out.scale.resize(static_cast<std::size_t>(N * (K / G)));
  double err2 = 0, ref2 = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    std::int8_t* q = out.q.data() + n * K;
    float* sc = out.scale.data() + n * (K / G);
    if (!quantize_row4(w + n * K, K, G, q, sc))
      throw_data("cannot quantize '" + name + "' to 4 bits: row " + std::to_string(n) + " exceeds the F16 scale range");
    for (std::int64_t k = 0; k < K; ++k) {
      const double e = double(w[n * K + k]) - double(q[k]) * double(sc[k / G]);
      out.max_abs_err = std::max(out.max_abs_err, std::abs(e));
      err2 += e * e;
      ref2 += double(w[n * K + k]) * double(w[n * K + k]);
    }
  }
  out.rel_rms_err = ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
  return out;
}

std::vector<std::uint8_t> pack_nibbles(const std::int8_t* q, std::int64_t N, std::int64_t K) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(N * (K / 2)));
  for (std::int64_t i = 0; i < N * (K / 2); ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((q[2 * i] + 8) | ((q[2 * i + 1] + 8) << 4));
  return out;
}

void unpack_nibbles(const std::uint8_t* packed, std::int64_t N, std::int64_t K, std::int8_t* q) {
  for (std::int64_t i = 0; i < N * (K / 2); ++i) {
    q[2 * i] = static_cast<std::int8_t>((packed[i] & 0x0F) - 8);
    q[2 * i + 1] = static_cast<std::int8_t>((packed[i] >> 4) - 8);
  }
}

void QAct::reserve(std::int64_t r, std::int64_t K) {
  const std::int64_t kp = (K + 3) / 4 * 4;
  if (r * kp > static_cast<std::int64_t>(q.size())) q.resize(static_cast<std::size_t>(r * kp));
  if (r > static_cast<std::int64_t>(scale.size())) {
    scale.resize(static_cast<std::size_t>(r));
    zp.resize(static_cast<std::size_t>(r));
  }
  rows = r;
  Kp = kp;
}

bool act_range(const float* x, std::int64_t ldx, std::int64_t K, std::int64_t m0, std::int64_t m1, float* lo, float* hi) {
  const auto& k = kernels::active();
  float l = 0, h = 0;
  bool ok = true;
  for (std::int64_t m = m0; m < m1; ++m) {
    float rl, rh;
    ok &= k.minmax(x + m * ldx, K, &rl, &rh);
    l = std::min(l, rl);
    h = std::max(h, rh);
  }
  *lo = l, *hi = h;
  return ok;
}

bool quantize_act_rows(const float* x, std::int64_t ldx, std::int64_t K, std::int64_t Kp, std::int64_t m0,
                       std::int64_t m1, ActGranularity g, float lo, float hi, QAct& qa) {
  const auto& k = kernels::active();
  bool ok = true;
  const kernels::QParams shared = kernels::qparams_u7(lo, hi);
  for (std::int64_t m = m0; m < m1; ++m) {
    const float* row = x + m * ldx;
    kernels::QParams p = shared;
    if (g == ActGranularity::PerRow) {
      float rl, rh;
      if (!k.minmax(row, K, &rl, &rh)) {
        ok = false;
        continue;
      }
      p = kernels::qparams_u7(rl, rh);
    }
    if (p.scale == 0.0f) {
      ok = false;
      continue;
    }
    std::uint8_t* q = qa.q.data() + m * Kp;
    k.quantize_u7(row, K, p.inv_scale, p.zp, q);
    for (std::int64_t i = K; i < Kp; ++i) q[i] = 0;
    qa.scale[static_cast<std::size_t>(m)] = p.scale;
    qa.zp[static_cast<std::size_t>(m)] = p.zp;
  }
  return ok;
}

}  // namespace wordlm
