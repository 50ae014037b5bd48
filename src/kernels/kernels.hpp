// Kernel contract: the raw-pointer compute kernels under the model, one table per ISA.
//
// The scalar table ("scalar") is the specification and the fallback on any CPU; the AVX2 and
// AVX-512 tables must produce *identical* results: equal int32 accumulators for the int8 and
// 4-bit GEMMs, and bit-equal floats for the epilogues, activation quantization and every fp32
// elementwise kernel (the same IEEE operations in the same order; see mathfn.hpp). active()
// picks the widest table the CPU runs (AVX-512 with VNNI, else AVX2 + FMA, else scalar), unless
// WORDLM_FORCE_ISA=scalar, =avx2 or =avx512 says otherwise (a table the CPU cannot run falls back
// to the widest it can).
//
// ---- int8 GEMM:  y[m][r] = float(acc[m][r] - zp[m] * colsum[r]) * (sa[m] * sw[r]) (+ add) (+ bias)
//   acc[m][r] = sum_k qa[m][k] * w[r][k], computed in int32 exactly.
//   qa: activations, u8 restricted to [0, 127] (7 bits), row-major, row stride lda >= Kp; bytes
//       K..Kp-1 of a row are multiplied by zero weights (their value does not matter).
//   w:  weights, s8 in [-127, 127], packed by pack_i8() (PackedI8 below).
//   Why 7 bits: AVX2 vpmaddubsw adds two u8*s8 products into a *saturating* int16. With
//   a <= 127 and |w| <= 127 (even 128) a pair is at most 2*127*128 = 32512 < 32767, so nothing
//   saturates and vpmaddwd(., 1) widens the pairs into int32 exactly. With a full u8 range
//   (255*127*2 = 64770) results would silently clip. The int32 sum overflows only past
//   K = 2^31 / 127^2 = 133,144; pack_i8 refuses K > 131,072.
//
// ---- PackedI8 layout (canonical int8 [N, K] row-major in, this out; built once at load):
//   rows padded to Np = 32 * ceil(N / 32) (zero rows), K padded to Kp = 4 * ceil(K / 4) (zeros).
//   Row group g holds rows 32g..32g+31 in 32*Kp bytes; inside it, k-quad q (k = 4q..4q+3) is
//   128 bytes: for sub-panel s = 0..3 and column c = 0..7 (row r = 32g + 8s + c), the 4 bytes
//   w[r][4q..4q+3] at offset q*128 + s*32 + c*4. One 32-byte load = 8 rows x 4 k, exactly the
//   operand of vpmaddubsw against a broadcast of 4 activation bytes.
//   An optional source-row map lets a caller permute rows at pack time (the LSTM interleaves
//   the i, f, g, o rows of each block of 8 units so one row group computes 8 whole units).
//
// ---- 4-bit GEMM, grouped along K (gemm4_*):
//   acc_g[m][r] = sum_{k in group g} qa[m][k] * w[r][k] in int32 exactly (groups of G consecutive
//   k, G a multiple of 8 dividing K); then, in this order, one float per output:
//     v = 0; for g = 0..nG-1: v = v + float(acc_g - zp[m] * colsum_g[r]) * sw_g[r];
//     y = v * sa[m] (+ addend) (+ bias)
//   w: codes in [-8, 7] (the quantizer writes [-7, 7]); the 7-bit activation argument above holds
//   a fortiori (a pair is at most 2*127*8 = 2032). That bound also lets the AVX2 kernel add the
//   vpmaddubsw pairs of up to 8 k-octets (16 pairs, at most 32512) in int16 before widening once
//   with vpmaddwd: half the multiplier work of the int8 core, still exact. qa as for int8, lda >= K.
// ---- PackedI4 layout: rows padded to Np = 32 * ceil(N / 32); row group g holds 32 * K / 2 bytes;
//   inside it, k-octet o (k = 8o..8o+7) is 128 bytes: for sub-panel s = 0..3 and column c = 0..7
//   (row r = 32g + 8s + c), byte o*128 + s*32 + c*4 + j (j = 0..3) holds w[r][8o + j] + 8 in its
//   low nibble and w[r][8o + 4 + j] + 8 in its high nibble. Masking, shifting and subtracting 8
//   turns one 32-byte load into two operands laid out exactly as PackedI8's k-quads, so the AVX2
//   core (vpmaddubsw + vpmaddwd) is the int8 one. colsum and scale are [nG][Np], group-major.
//
// ---- fp32 GEMM on packed weights: y = x W^T (+ addend) (+ bias); addend may be y itself (accumulate)
//   with W packed once at load (PackedF32): rows padded to Np = 32 * ceil(N / 32); panel p holds
//   rows 16p..16p+15 as K steps of 16 consecutive floats. acc[m][r] is one fused multiply-add
//   chain over k = 0..K-1 in increasing order (no k splitting), then v = acc (+ addend) (+ bias):
//   the scalar reference computes exactly that with std::fma, so results are bit-identical.
//   Inference uses it at every M; training (AVX-512 tables) packs its decoder per window.
//
// ---- fp32 reductions (softmax) use 16 lanes: lane l accumulates elements j = l (mod 16) in
//   increasing j, then lanes fold as t_l = s_l + s_(l+8) (l < 8) and combine as
//   ((t0+t4)+(t2+t6)) + ((t1+t5)+(t3+t7)). Every table does exactly this (AVX2 keeps lanes 0-7 and
//   8-15 in two registers, AVX-512 in one), so sums are bit-identical too.
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned.hpp"

namespace wordlm::kernels {

enum class Isa { Scalar, Avx2, Avx512 };
const char* isa_name(Isa isa) noexcept;
bool cpu_has_avx2_fma() noexcept;
bool cpu_has_avx512_vnni() noexcept;  // AVX-512 F, BW, DQ, VL and VNNI (and AVX2 + FMA)

inline constexpr std::int64_t kGroupRows = 32;
inline constexpr std::int64_t kMaxK = 131072;

struct PackedI8 {
  std::int64_t N = 0, K = 0;    // logical rows (outputs) and columns (inputs)
  std::int64_t Np = 0, Kp = 0;  // padded
  AlignedBuffer<std::int8_t> data;   // Np * Kp bytes, layout above
  AlignedBuffer<std::int32_t> colsum;  // [Np] sum_k w[r][k] (0 for padding rows)
  AlignedBuffer<float> scale;          // [Np] weight scale per row (per-tensor: repeated)
  std::int64_t groups() const noexcept { return Np / kGroupRows; }
};

// w: [N, K] canonical int8 rows; scale: [N] or, if per_tensor, [1]. src_row (optional, length
// Np_out = rows of the packed matrix, which must be a multiple of 32): packed row r takes source
// row src_row[r], or a zero row if src_row[r] < 0.
void pack_i8(const std::int8_t* w, const float* scale, bool per_tensor, std::int64_t N, std::int64_t K,
             PackedI8& out, const std::vector<std::int64_t>* src_row = nullptr);
// Recovers w[r][k] from the packed layout (tests).
std::int8_t packed_at(const PackedI8& p, std::int64_t r, std::int64_t k) noexcept;

struct PackedI4 {
  std::int64_t N = 0, K = 0, Np = 0;
  std::int64_t G = 0, nG = 0;           // group size along K, groups per row (K / G)
  AlignedBuffer<std::uint8_t> data;     // Np * K / 2 bytes, layout above
  AlignedBuffer<std::int32_t> colsum;   // [nG][Np] sum of the codes of each row's group
  AlignedBuffer<float> scale;           // [nG][Np] weight scale per row and group (padding rows 1)
  std::int64_t groups() const noexcept { return Np / kGroupRows; }
};
// codes: [N, K] int8 in [-8, 7]; scale: [N, K / G]. src_row as for pack_i8. Throws Usage unless
// G is a positive multiple of 8 that divides K.
void pack_i4(const std::int8_t* codes, const float* scale, std::int64_t N, std::int64_t K, std::int64_t G, PackedI4& out,
             const std::vector<std::int64_t>* src_row = nullptr);
std::int8_t packed_at(const PackedI4& p, std::int64_t r, std::int64_t k) noexcept;

struct PackedF32 {
  std::int64_t N = 0, K = 0, Np = 0;
  AlignedBuffer<float> data;  // (Np / 16) panels x K x 16
  std::int64_t groups() const noexcept { return Np / kGroupRows; }
};
void pack_f32(const float* w, std::int64_t N, std::int64_t K, PackedF32& out,
              const std::vector<std::int64_t>* src_row = nullptr);
// Packing in parts, for matrices that change every training step: reserve_f32 sizes `out` for an
// (N, K) matrix (padding rows zero); pack_f32_panels then fills 16-row panels [p0, p1) from
// w[n * row_stride + k * col_stride] (col_stride 1: row-major W; row_stride 1: W^T of a row-major
// (K, N) matrix). Threads may pack disjoint panel ranges at once.
void reserve_f32(PackedF32& out, std::int64_t N, std::int64_t K);
void pack_f32_panels(const float* w, std::int64_t row_stride, std::int64_t col_stride, PackedF32& out, std::int64_t p0,
                     std::int64_t p1);

struct GemmF32Args {
  const float* x = nullptr;  // x[m][k] at x[m * ldx + k * ldx_k] (ldx_k 1: row-major; else e.g. a transpose)
  std::int64_t ldx = 0, M = 0;
  std::int64_t ldx_k = 1;
  const PackedF32* w = nullptr;
  std::int64_t g0 = 0, g1 = 0;  // 32-row groups
  const float* addend = nullptr;
  std::int64_t ld_add = 0;
  const float* bias = nullptr;
  float* y = nullptr;
  std::int64_t ldy = 0, y_cols = 0;  // rows >= y_cols are not stored
};

struct GemmArgs {
  const std::uint8_t* qa = nullptr;  // [M, lda]
  std::int64_t lda = 0;
  std::int64_t M = 0;
  const PackedI8* w = nullptr;
  std::int64_t g0 = 0, g1 = 0;        // row groups to compute: rows [32*g0, 32*g1) clipped to Np
  // int32 output (gemm_i32): acc[m*ldacc + r] for r in the row range (padding rows included)
  std::int32_t* acc = nullptr;
  std::int64_t ldacc = 0;
  // float output (gemm_f32): y[m*ldy + r] for r < y_cols only (rows past y_cols are not stored)
  const float* sa = nullptr;          // [M] activation scales
  const std::int32_t* zpa = nullptr;  // [M] activation zero points
  const float* addend = nullptr;      // optional [M, ld_add], added after the scaling
  std::int64_t ld_add = 0;
  const float* bias = nullptr;        // optional [>= y_cols], added last
  float* y = nullptr;
  std::int64_t ldy = 0;
  std::int64_t y_cols = 0;
};

struct Gemm4Args {
  const std::uint8_t* qa = nullptr;  // [M, lda], lda >= K
  std::int64_t lda = 0, M = 0;
  const PackedI4* w = nullptr;
  std::int64_t g0 = 0, g1 = 0;        // 32-row groups
  std::int32_t* acc = nullptr;        // gemm4_i32: acc_g[m][r] at acc[(m * nG + g) * ldacc + r]
  std::int64_t ldacc = 0;
  const float* sa = nullptr;          // gemm4_f32, as in GemmArgs
  const std::int32_t* zpa = nullptr;
  const float* addend = nullptr;
  std::int64_t ld_add = 0;
  const float* bias = nullptr;
  float* y = nullptr;
  std::int64_t ldy = 0, y_cols = 0;
};

struct Table {
  Isa isa;
  // ---- int8
  void (*gemm_i32)(const GemmArgs& a);
  void (*gemm_f32)(const GemmArgs& a);
  // ---- fp32 small-M GEMM on packed weights
  void (*sgemm_packed)(const GemmF32Args& a);
  // min and max of x[0..n); returns false if any element is NaN or Inf (lo/hi then unspecified)
  bool (*minmax)(const float* x, std::int64_t n, float* lo, float* hi);
  // q[k] = clamp(nearbyint(x[k] * inv_scale) + zp, 0, 127) for k < n
  void (*quantize_u7)(const float* x, std::int64_t n, float inv_scale, std::int32_t zp, std::uint8_t* q);
  // ---- fp32 elementwise / reductions
  void (*exp)(const float* x, float* y, std::int64_t n);
  void (*tanh)(const float* x, float* y, std::int64_t n);
  void (*sigmoid)(const float* x, float* y, std::int64_t n);
  float (*max)(const float* x, std::int64_t n);                    // n >= 1
  // One pass: *mx = max x, returns sum exp(x - *mx) (so log-sum-exp = *mx + log(sum)). Each lane l
  // (elements j = l mod 16) keeps a running max m and sum s: m' = max(m, x), s = s * exp(m - m') +
  // exp(x - m'); lanes combine as m = max, sum of s_l * exp(m_l - m) in the 16-lane tree order.
  float (*max_sumexp)(const float* x, std::int64_t n, float* mx);
  float (*exp_sum)(const float* x, std::int64_t n, float shift);  // sum of exp(x - shift), 16-lane order
  void (*exp_scale_store)(float* x, std::int64_t n, float shift, float s);  // x = exp(x - shift) * s
  // LSTM cell over n consecutive units (mathfn::lstm_cell_fwd_one / _bwd_one); tc may be null.
  void (*lstm_fwd)(std::int64_t n, float* zi, float* zf, float* zg, float* zo, const float* c_prev,
                   float* c, float* h, float* tc);
  void (*lstm_bwd)(std::int64_t n, float* ai, float* af, float* ag, float* ao, const float* c_prev,
                   const float* tc, const float* dh, float* dc);
  // ---- 4-bit grouped GEMM (contract above)
  void (*gemm4_i32)(const Gemm4Args& a);
  void (*gemm4_f32)(const Gemm4Args& a);
  // Inference cell over `units` units in the unit-blocked layout: z holds blocks of 32 floats, block
  // u's gate g (i, f, g, o) for its unit l at z[32u + 8g + l] (unit j = 8u + l). Writes c[j] and
  // h[j] (c may be c_prev: updated in place); z is read only. Same math per unit as lstm_fwd.
  void (*lstm_fwd_blocked)(std::int64_t units, const float* z, const float* c_prev, float* c, float* h);
  // max_sumexp in parts: continues 16 lane states (m[l], s[l]; start at -inf, 0) over x[0..n),
  // element i going to lane i mod 16 - so x must start at a multiple of 16 of its row. Parts in
  // increasing order, then sumexp_finish(), give exactly max_sumexp's *mx and sum.
  void (*sumexp_lanes)(const float* x, std::int64_t n, float* m, float* s);
};

// The end of max_sumexp (every table): *mx = the lanes' max, returns sum_l s[l] * exp(m[l] - *mx)
// in the 16-lane order.
float sumexp_finish(const float* m, const float* s, float* mx) noexcept;

const Table& table(Isa isa);  // throws Usage if the CPU cannot run that ISA
std::vector<const Table*> available_tables();  // scalar first, then every SIMD table this CPU runs
const Table& active() noexcept;
Isa active_isa() noexcept;

// Activation quantization parameters from a range (widened to include 0): scale = (hi - lo) / 127,
// zp = clamp(nearbyint(-lo / scale), 0, 127); all-zero range, or one so small that the scale would
// be subnormal -> scale 1, zp 0 (the values quantize to 0); a range too wide
// for float (hi - lo overflows) -> scale 0, which callers report like NaN/Inf.
struct QParams {
  float scale;
  float inv_scale;
  std::int32_t zp;
};
QParams qparams_u7(float lo, float hi) noexcept;

// One activation row as an integer matmul sees it, dequantized: out[k] = (q[k] - zp) * scale with
// (scale, zp) = qparams_u7 of the row's range and q = the active table's quantize_u7 (the run-time
// per-row scheme). Quantization-aware training's fake activation quantization; out may be x.
// Returns false (out untouched) on NaN/Inf or a range too wide for float.
bool fake_quant_row_u7(const float* x, std::int64_t K, float* out);

// Diagnostics: a dot product of *full-range* u8 activations with s8 weights through vpmaddubsw
// exactly as the GEMM would do it (AVX2 only; returns false if unavailable). It exists to show,
// in a test, what the 7-bit restriction prevents: pairs above 32767 saturate.
bool avx2_dot_u8s8_saturating(const std::uint8_t* a, const std::int8_t* w, std::int64_t n, std::int32_t* out);

// Diagnostics: this machine's peaks, for the micro-benchmarks' peak rows. Each runs `iters`
// iterations of its core on registers only (no memory traffic) and returns the multiply-adds
// done (0 without AVX2): avx2_peak_i8 is the int8 GEMM's core (vpmaddubsw + vpmaddwd + vpaddd on
// 32 u7 x s8 products), avx2_peak_fma is 8-lane FMA. `sink` keeps the results alive.
std::int64_t avx2_peak_i8(std::int64_t iters, std::int32_t* sink);
std::int64_t avx2_peak_fma(std::int64_t iters, float* sink);
// The same on AVX-512 (0 without AVX-512 + VNNI): vpdpbusd on 64 u8 x s8 products, 16-lane FMA.
std::int64_t avx512_peak_vnni(std::int64_t iters, std::int32_t* sink);
std::int64_t avx512_peak_fma(std::int64_t iters, float* sink);

// Internal: the per-ISA tables.
extern const Table kScalarTable;
const Table* avx2_table() noexcept;    // nullptr when built without AVX2 support
const Table* avx512_table() noexcept;  // the AVX-512 GEMMs over the AVX2 elementwise kernels

}  // namespace wordlm::kernels
