// pack_i8: canonical int8 rows -> the row-group layout described in kernels.hpp. Runs once per
// weight at load; ISA independent.
#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "kernels/kernels.hpp"

namespace wordlm::kernels {

void pack_i8(const std::int8_t* w, const float* scale, bool per_tensor, std::int64_t N, std::int64_t K,
             PackedI8& out, const std::vector<std::int64_t>* src_row) {
  if (K < 1 || K > kMaxK) throw_usage("int8 GEMM: K = " + std::to_string(K) + " outside 1..131072");
  out.N = src_row ? static_cast<std::int64_t>(src_row->size()) : N;
  out.K = K;
  out.Np = (out.N + kGroupRows - 1) / kGroupRows * kGroupRows;
  out.Kp = (K + 3) / 4 * 4;
  WORDLM_CHECK(!src_row || out.Np == out.N, "pack_i8: a row map must cover whole groups of 32");
  out.data.resize(static_cast<std::size_t>(out.Np * out.Kp));
  out.data.zero();
  out.colsum.resize(static_cast<std::size_t>(out.Np));
  out.colsum.zero();
  out.scale.resize(static_cast<std::size_t>(out.Np));
  for (std::int64_t r = 0; r < out.Np; ++r) {
    std::int64_t src = r < out.N ? (src_row ? (*src_row)[static_cast<std::size_t>(r)] : r) : -1;
    WORDLM_CHECK(src < N, "pack_i8: source row out of range");
    out.scale[static_cast<std::size_t>(r)] = src < 0 ? 1.0f : scale[per_tensor ? 0 : src];
    if (src < 0) continue;
    const std::int8_t* row = w + src * K;
    const std::int64_t g = r / kGroupRows, s = (r % kGroupRows) / 8, c = r % 8;
    std::int8_t* base = out.data.data() + g * kGroupRows * out.Kp + s * 32 + c * 4;
    std::int32_t sum = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      base[(k / 4) * 128 + (k % 4)] = row[k];
      sum += row[k];
    }
    out.colsum[static_cast<std::size_t>(r)] = sum;
  }
}

void pack_f32(const float* w, std::int64_t N, std::int64_t K, PackedF32& out, const std::vector<std::int64_t>* src_row) {
  out.N = src_row ? static_cast<std::int64_t>(src_row->size()) : N;
  out.K = K;
  out.Np = (out.N + kGroupRows - 1) / kGroupRows * kGroupRows;
  out.data.resize(static_cast<std::size_t>(out.Np * K));
  out.data.zero();
  for (std::int64_t r = 0; r < out.N; ++r) {
    const std::int64_t src = src_row ? (*src_row)[static_cast<std::size_t>(r)] : r;
    if (src < 0) continue;
    WORDLM_CHECK(src < N, "pack_f32: source row out of range");
    float* panel = out.data.data() + (r / 16) * 16 * K + (r % 16);
    for (std::int64_t k = 0; k < K; ++k) panel[k * 16] = w[src * K + k];
  }
}

void reserve_f32(PackedF32& out, std::int64_t N, std::int64_t K) {
  const std::int64_t Np = (N + kGroupRows - 1) / kGroupRows * kGroupRows;
  if (out.N == N && out.K == K && out.Np == Np && out.data.size() == static_cast<std::size_t>(Np * K)) return;
  out.N = N, out.K = K, out.Np = Np;
  out.data.resize(static_cast<std::size_t>(Np * K));
  out.data.zero();  // padding rows stay zero: pack_f32_panels writes only rows < N
}

void pack_f32_panels(const float* w, std::int64_t row_stride, std::int64_t col_stride, PackedF32& out, std::int64_t p0,
                     std::int64_t p1) {
  const std::int64_t K = out.K;
  for (std::int64_t p = p0; p < p1; ++p) {
    float* panel = out.data.data() + p * 16 * K;
    const std::int64_t rows = std::min<std::int64_t>(16, out.N - 16 * p);
    if (rows <= 0) continue;
    if (row_stride == 1) {  // W^T of a row-major matrix: 16 consecutive floats per k
      for (std::int64_t k = 0; k < K; ++k)
        std::memcpy(panel + 16 * k, w + 16 * p + k * col_stride, sizeof(float) * static_cast<std::size_t>(rows));
    } else {
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* src = w + (16 * p + r) * row_stride;
        for (std::int64_t k = 0; k < K; ++k) panel[16 * k + r] = src[k * col_stride];
      }
    }
  }
}

std::int8_t packed_at(const PackedI8& p, std::int64_t r, std::int64_t k) noexcept {
  const std::int64_t g = r / kGroupRows, s = (r % kGroupRows) / 8, c = r % 8;
  return p.data[static_cast<std::size_t>(g * kGroupRows * p.Kp + (k / 4) * 128 + s * 32 + c * 4 + (k % 4))];
}

QParams qparams_u7(float lo, float hi) noexcept {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  if (!(hi > lo)) return {1.0f, 1.0f, 0};
  if (!std::isfinite(hi - lo)) return {0.0f, 0.0f, 0};  // range overflows float: callers treat scale 0 as an error
  QParams q;
  q.scale = (hi - lo) / 127.0f;
  // A range so small that the scale is subnormal or underflows to 0 (e.g. |x| ~ 1e-40): the values
  // are zero for every practical purpose; quantize them as zeros (an infinite 1/scale would turn
  // into NaN and an undefined float -> int conversion). Found by fuzz_checkpoint.
  if (!(q.scale >= std::numeric_limits<float>::min())) return {1.0f, 1.0f, 0};
  q.inv_scale = 1.0f / q.scale;
  const float z = std::nearbyint(-lo / q.scale);
  q.zp = static_cast<std::int32_t>(std::clamp(z, 0.0f, 127.0f));
  return q;
}

void pack_i4(const std::int8_t* codes, const float* scale, std::int64_t N, std::int64_t K, std::int64_t G, PackedI4& out,
             const std::vector<std::int64_t>* src_row) {
  if (K < 8 || K > kMaxK) throw_usage("4-bit GEMM: K = " + std::to_string(K) + " outside 8..131072");
  if (G < 8 || G % 8 != 0 || K % G != 0)
    throw_usage("4-bit group size " + std::to_string(G) + " must be a multiple of 8 that divides K = " + std::to_string(K));
  out.N = src_row ? static_cast<std::int64_t>(src_row->size()) : N;
  out.K = K;
  out.G = G;
  out.nG = K / G;
  out.Np = (out.N + kGroupRows - 1) / kGroupRows * kGroupRows;
  WORDLM_CHECK(!src_row || out.Np == out.N, "pack_i4: a row map must cover whole groups of 32");
  out.data.resize(static_cast<std::size_t>(out.Np * K / 2));
  for (std::size_t i = 0; i < out.data.size(); ++i) out.data[i] = 0x88;  // code 0 in both nibbles
  out.colsum.resize(static_cast<std::size_t>(out.nG * out.Np));
  out.colsum.zero();
  out.scale.resize(static_cast<std::size_t>(out.nG * out.Np));
  for (std::int64_t r = 0; r < out.Np; ++r) {
    const std::int64_t src = r < out.N ? (src_row ? (*src_row)[static_cast<std::size_t>(r)] : r) : -1;
    WORDLM_CHECK(src < N, "pack_i4: source row out of range");
    for (std::int64_t g = 0; g < out.nG; ++g)
      out.scale[static_cast<std::size_t>(g * out.Np + r)] = src < 0 ? 1.0f : scale[src * out.nG + g];
    if (src < 0) continue;
    const std::int8_t* row = codes + src * K;
    const std::int64_t rg = r / kGroupRows, s = (r % kGroupRows) / 8, c = r % 8;
    std::uint8_t* base = out.data.data() + rg * kGroupRows * K / 2 + s * 32 + c * 4;
    for (std::int64_t k = 0; k < K; ++k) {
      WORDLM_CHECK(row[k] >= -8 && row[k] <= 7, "pack_i4: code outside [-8, 7]");
      const std::int64_t o = k / 8, j = k % 4;
      const bool high = (k % 8) >= 4;
      std::uint8_t& b = base[o * 128 + j];
      const auto nib = static_cast<std::uint8_t>(row[k] + 8);
      b = high ? static_cast<std::uint8_t>((b & 0x0F) | (nib << 4)) : static_cast<std::uint8_t>((b & 0xF0) | nib);
      out.colsum[static_cast<std::size_t>((k / G) * out.Np + r)] += row[k];
    }
  }
}

std::int8_t packed_at(const PackedI4& p, std::int64_t r, std::int64_t k) noexcept {
  const std::int64_t rg = r / kGroupRows, s = (r % kGroupRows) / 8, c = r % 8, o = k / 8, j = k % 4;
  const std::uint8_t b = p.data[static_cast<std::size_t>(rg * kGroupRows * p.K / 2 + o * 128 + s * 32 + c * 4 + j)];
  const int nib = (k % 8) >= 4 ? b >> 4 : b & 0x0F;
  return static_cast<std::int8_t>(nib - 8);
}

bool fake_quant_row_u7(const float* x, std::int64_t K, float* out) {
  const Table& t = active();
  float lo, hi;
  if (!t.minmax(x, K, &lo, &hi)) return false;
  const QParams p = qparams_u7(lo, hi);
  if (p.scale == 0.0f) return false;
  thread_local std::vector<std::uint8_t> q;
  q.resize(static_cast<std::size_t>(K));
  t.quantize_u7(x, K, p.inv_scale, p.zp, q.data());
  for (std::int64_t k = 0; k < K; ++k) out[k] = static_cast<float>(static_cast<std::int32_t>(q[static_cast<std::size_t>(k)]) - p.zp) * p.scale;
  return true;
}

}  // namespace wordlm::kernels
