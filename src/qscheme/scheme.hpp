// The int8 scheme (docs/quantization.md, after ../shared/design/quantization.md):
//  - weights, offline: symmetric int8 in [-127, 127], zero point 0, one scale per output row
//    (default) or per tensor; scale = max|w| / 127, q = clamp(round_half_even(w / scale)).
//    An all-zero row gets scale 1 and zeros.
//  - activations, at run time in every matmul: asymmetric u8 restricted to [0, 127] with a zero
//    point, one scale per row (token / time step; default) or per tensor (PyTorch parity).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/aligned.hpp"
#include "kernels/kernels.hpp"
#include "nlohmann/json_fwd.hpp"

namespace wordlm {

enum class WeightGranularity { PerRow, PerTensor };
enum class ActGranularity { PerRow, PerTensor };
const char* granularity_name(WeightGranularity g) noexcept;
const char* granularity_name(ActGranularity g) noexcept;
WeightGranularity parse_weight_granularity(const std::string& s);  // throws Usage
ActGranularity parse_act_granularity(const std::string& s);        // throws Usage

struct QuantizedWeight {
  std::vector<std::int8_t> q;  // (N, K)
  std::vector<float> scale;    // (N) per row or (1) per tensor
  double max_abs_err = 0;      // max |w - q * scale|
  double rel_rms_err = 0;      // sqrt(sum (w - q*s)^2 / sum w^2)
};

// The rounding rules themselves, shared by the quantizer and by quantization-aware training's
// fake quantization (so training and run time cannot drift apart).
float int8_scale(float max_abs) noexcept;             // max / 127, or 1 for a vanishing row
std::int8_t int8_code(float w, float scale) noexcept;  // clamp(round_half_even(w / s), -127, 127)
// One row of 4-bit codes q (K) and scales (K / G, F16-representable) from w (K). False if a
// weight is too large for an F16 scale.
bool quantize_row4(const float* w, std::int64_t K, std::int64_t G, std::int8_t* q, float* scale) noexcept;

// Throws Data naming `name` if w holds NaN or Inf.
QuantizedWeight quantize_weight(const float* w, std::int64_t N, std::int64_t K, WeightGranularity g,
                                const std::string& name);

// 4-bit weights (docs/quantization.md): symmetric codes in [-7, 7], one scale per row and group
// of G consecutive inputs along K; scale = f16(max|w| / 7) over the group (stored as F16, so the
// codes are rounded against the stored value), q = clamp(round_half_even(w / scale), -7, 7); an
// all-zero group gets scale 1 and zeros. The same rounding
// serves the quantizer and the fake quantization of quantization-aware training.
struct QuantizedWeight4 {
  std::vector<std::int8_t> q;  // (N, K) codes in [-7, 7]
  std::vector<float> scale;    // (N, K / G), each exactly representable in F16
  double max_abs_err = 0, rel_rms_err = 0;
};
// G: a positive multiple of 8 dividing K (throws Usage otherwise); Data if w is not finite.
QuantizedWeight4 quantize_weight4(const float* w, std::int64_t N, std::int64_t K, std::int64_t G, const std::string& name);
// The group size used when none is asked for: the largest multiple of 8 up to 64 dividing K
// (0 if none: K not a multiple of 8). 64 by measurement on the small and seed models
// (docs/quantization.md).
std::int64_t default_group4(std::int64_t K) noexcept;
// Checkpoint storage of 4-bit codes: U8 [N, K / 2], byte j of a row holding code 2j + 8 in its
// low nibble and code 2j + 1 + 8 in its high nibble (K even).
std::vector<std::uint8_t> pack_nibbles(const std::int8_t* q, std::int64_t N, std::int64_t K);
void unpack_nibbles(const std::uint8_t* packed, std::int64_t N, std::int64_t K, std::int8_t* q);

// Activations quantized for one int8 matmul: rows of u8 codes with per-row scale and zero point
// (per-tensor mode simply repeats one scale/zero point on every row).
struct QAct {
  std::int64_t rows = 0, Kp = 0;
  AlignedBuffer<std::uint8_t> q;   // (rows, Kp), padding bytes zero
  AlignedBuffer<float> scale;      // (rows)
  AlignedBuffer<std::int32_t> zp;  // (rows)
  void reserve(std::int64_t rows, std::int64_t K);  // grows storage and sets the shape
  static std::int64_t padded(std::int64_t K) noexcept { return (K + 3) / 4 * 4; }
};

// Quantizes rows [m0, m1) of x (ld ldx, width K) into qa (row stride Kp = 4*ceil(K/4), passed in
// so that threads filling disjoint rows never write qa's shape) with the given range
// (per-tensor) or each row's own range (per-row; lo/hi ignored). False if a row holds NaN/Inf.
bool quantize_act_rows(const float* x, std::int64_t ldx, std::int64_t K, std::int64_t Kp, std::int64_t m0,
                       std::int64_t m1, ActGranularity g, float lo, float hi, QAct& qa);
// min/max over rows [m0, m1); false on NaN/Inf
bool act_range(const float* x, std::int64_t ldx, std::int64_t K, std::int64_t m0, std::int64_t m1, float* lo, float* hi);

}  // namespace wordlm
