// IEEE binary16 (F16) <-> float, round to nearest even, for the 4-bit scales a checkpoint stores
// in F16 (half the bytes of F32; their 11-bit precision costs nothing measurable next to 4-bit
// codes). Overflow goes to Inf; NaN stays NaN; subnormals are exact.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace wordlm {

inline float f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: man * 2^-24
    const float v = std::ldexp(static_cast<float>(man), -24);
    return sign ? -v : v;
  }
  const std::uint32_t bits = exp == 31 ? (sign | 0x7F800000u | (man << 13)) : (sign | ((exp + 112u) << 23) | (man << 13));
  return std::bit_cast<float>(bits);
}

inline std::uint16_t f32_to_f16(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7FFFFFFFu;
  if (x >= 0x7F800000u) return static_cast<std::uint16_t>(sign | (x > 0x7F800000u ? 0x7E00u : 0x7C00u));
  if (x >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // >= 65520 rounds to Inf
  if (x < 0x38800000u) {  // below 2^-14: a subnormal half, v * 2^24 rounded (exact scaling)
    const float v = std::bit_cast<float>(x) * 16777216.0f;
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(v)));
  }
  const std::uint32_t r = x + 0xFFFu + ((x >> 13) & 1u);  // round to nearest even at bit 13
  return static_cast<std::uint16_t>(sign | ((r - 0x38000000u) >> 13));
}

inline float round_to_f16(float f) noexcept { return f16_to_f32(f32_to_f16(f)); }

}  // namespace wordlm
