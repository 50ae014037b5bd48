#include "train/qat.hpp"

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/half.hpp"
#include "qscheme/scheme.hpp"

namespace wordlm {

QuantizeOptions quantize_options(const QatOptions& q) {
  QuantizeOptions o;
  o.bits = q.bits;
  o.group = q.group;
  o.embedding = q.embedding;
  return o;
}

FakeQuantTransform::FakeQuantTransform(const ModelConfig& cfg, const QatOptions& q) : cfg_(cfg), q_(q) {
  if (q.bits != 4 && q.bits != 8) throw_usage("quantization-aware training: bits must be 4 or 8");
  if (cfg.tied && !q.embedding)
    throw_usage("quantization-aware training of a tied model quantizes the embedding too (it is the decoder): "
                "train with the embedding quantized");
  for (const auto& s : param_specs(cfg))
    if (applies(s) && q.bits == 4) {
      const std::int64_t G = group_of(s);
      if (G < 8 || G % 8 != 0 || s.shape[1] % G != 0)
        throw_usage("quantization-aware training: no 4-bit group size fits '" + s.name + "' (" + std::to_string(s.shape[1]) +
                    " inputs; the group must be a multiple of 8 dividing them)");
    }
}

bool FakeQuantTransform::applies(const ParamSpec& s) const {
  if (!s.quantizable) return false;
  if (s.role == ParamRole::Embedding) return q_.embedding;
  return true;
}

std::int64_t FakeQuantTransform::group_of(const ParamSpec& s) const {
  return q_.group ? q_.group : default_group4(s.shape[1]);
}

void FakeQuantTransform::forward(const ParamSpec& s, const float* w, float* w_eff, std::int64_t r0, std::int64_t r1) const {
  const std::int64_t K = s.shape[1];
  if (q_.bits == 8) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* x = w + r * K;
      float m = 0;
      for (std::int64_t k = 0; k < K; ++k) m = std::max(m, std::fabs(x[k]));
      const float sc = int8_scale(m);
      for (std::int64_t k = 0; k < K; ++k) w_eff[r * K + k] = static_cast<float>(int8_code(x[k], sc)) * sc;
    }
    return;
  }
  const std::int64_t G = group_of(s);
  thread_local std::vector<std::int8_t> q;
  thread_local std::vector<float> sc;
  q.resize(static_cast<std::size_t>(K));
  sc.resize(static_cast<std::size_t>(K / G));
  for (std::int64_t r = r0; r < r1; ++r) {
    if (!quantize_row4(w + r * K, K, G, q.data(), sc.data()))
      throw Error(ErrorKind::Diverged, "quantization-aware training: '" + s.name + "' grew past the F16 scale range");
    for (std::int64_t k = 0; k < K; ++k) w_eff[r * K + k] = static_cast<float>(q[static_cast<std::size_t>(k)]) * sc[static_cast<std::size_t>(k / G)];
  }
}

// Straight-through: d w_eff / d w = 1 inside the clipping range, 0 outside. The range of a row
// (int8) or group (4-bit) is [-qmax * s, qmax * s] with s from that row/group's own max, so every
// weight is inside and the gradient passes as is; the loop checks it anyway.
void FakeQuantTransform::backward(const ParamSpec& s, const float* w, float* grad, std::int64_t r0, std::int64_t r1) const {
  const std::int64_t K = s.shape[1], G = q_.bits == 8 ? K : group_of(s);
  const float qmax = q_.bits == 8 ? 127.0f : 7.0f;
  for (std::int64_t r = r0; r < r1; ++r)
    for (std::int64_t g = 0; g < K / G; ++g) {
      const float* x = w + r * K + g * G;
      float m = 0;
      for (std::int64_t k = 0; k < G; ++k) m = std::max(m, std::fabs(x[k]));
      const float sc = q_.bits == 8 ? int8_scale(m) : std::max(round_to_f16(m / 7.0f), 1e-30f);
      const float lim = qmax * sc * (1.0f + 1e-3f) + 0.5f * sc;  // the last code's rounding interval (F16 may round s down)
      for (std::int64_t k = 0; k < G; ++k)
        if (std::fabs(x[k]) > lim) grad[r * K + g * G + k] = 0.0f;
    }
}

}  // namespace wordlm
