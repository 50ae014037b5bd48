// AVX-512 GEMM kernels (AVX-512 F/BW/DQ/VL + VNNI): the int8 GEMM on vpdpbusd (4-bit: gemm4_avx512.cpp) and the
// fp32 small-M GEMM on 16-lane FMA, over the very packed layouts the AVX2 kernels use (a 64-byte
// load of a PackedI8 k-quad is 16 rows x 4 k; a PackedF32 k step is 16 rows), plus the AVX-512
// dispatch table (its elementwise kernels are in elementwise_avx512.cpp). Compiled with -mavx512* and reached only through the table after a CPUID check.
//
// Exactness: vpdpbusd adds four u8 x s8 products into an int32 lane with no 16-bit intermediate,
// so the integers equal the reference's (the 7-bit activations are not needed here, but they keep
// every ISA on the same integers). The float epilogues do the reference's operations in its
// order, lane by lane: results are bit-identical to the scalar table and the AVX2 one.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/aligned.hpp"
#include "kernels/avx512_common.hpp"
#include "kernels/avx512_inline.hpp"
#include "kernels/kernels.hpp"

namespace wordlm::kernels {

namespace {

using avx512::bcast4;
using avx512::finish16;
using avx512::static_for;

// ---------------------------------------------------------------- int8 GEMM (VNNI)
// MR activation rows x NG row groups (2 x 16 rows each), over all of K.
template <int MR, int NG>
inline __attribute__((always_inline)) void i8_block(const GemmArgs& ar, std::int64_t m0, std::int64_t rg, __m512i (&acc)[MR][2 * NG]) {
  const PackedI8& w = *ar.w;
  const std::int8_t* wg = w.data.data() + rg * kGroupRows * w.Kp;
  const std::int64_t gstride = kGroupRows * w.Kp;
  static_for<MR>([&](auto m) { static_for<2 * NG>([&](auto j) { acc[m][j] = _mm512_setzero_si512(); }); });
  const std::uint8_t* qa = ar.qa + m0 * ar.lda;
  const std::int64_t nq = w.Kp / 4;
  for (std::int64_t q = 0; q < nq; ++q) {
    __m512i wv[2 * NG];
    static_for<2 * NG>([&](auto j) { wv[j] = _mm512_load_si512(wg + (j / 2) * gstride + q * 128 + (j % 2) * 64); });
    static_for<MR>([&](auto m) {
      const __m512i a = bcast4(qa + m * ar.lda + 4 * q);
      static_for<2 * NG>([&](auto j) { acc[m][j] = _mm512_dpbusd_epi32(acc[m][j], a, wv[j]); });
    });
  }
}

template <int MR, int NG, bool F32>
inline void i8_epilogue(const GemmArgs& ar, std::int64_t m0, std::int64_t rg, __m512i (&acc)[MR][2 * NG]) {
  const PackedI8& w = *ar.w;
  static_for<MR>([&](auto m) {
    const std::int64_t mm = m0 + m;
    if constexpr (F32) {
      const __m512i zp = _mm512_set1_epi32(ar.zpa[mm]);
      const __m512 sa = _mm512_set1_ps(ar.sa[mm]);
      static_for<2 * NG>([&](auto j) {
        const std::int64_t r = rg * kGroupRows + 16 * j;
        if (r >= ar.y_cols) return;
        const __m512i colsum = _mm512_load_si512(w.colsum.data() + r);
        const __m512 sw = _mm512_load_ps(w.scale.data() + r);
        const __m512i centered = _mm512_sub_epi32(acc[m][j], _mm512_mullo_epi32(zp, colsum));
        const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(centered), _mm512_mul_ps(sa, sw));
        finish16(v, ar.addend ? ar.addend + mm * ar.ld_add : nullptr, ar.bias, ar.y + mm * ar.ldy, r, ar.y_cols);
      });
    } else {
      static_for<2 * NG>([&](auto j) {
        _mm512_storeu_si512(ar.acc + mm * ar.ldacc + rg * kGroupRows + 16 * j, acc[m][j]);
      });
    }
  });
}

template <int MR, int NG, bool F32>
inline void i8_rows(const GemmArgs& ar, std::int64_t m0, std::int64_t rg) {
  __m512i acc[MR][2 * NG];
  i8_block<MR, NG>(ar, m0, rg, acc);
  i8_epilogue<MR, NG, F32>(ar, m0, rg, acc);
}

// One row (decode, recurrent steps): 4 groups (128 rows) per pass, 8 independent accumulators.
// More rows: 6 at a time over one group (12 accumulators); the group's weights stay in L1 while
// the row blocks pass over them. Measured (micro-benchmarks, M 10 and 350): 6 x 1 group 346-391
// GMAC/s, 8 x 1 group 318-347, 6 x 2 groups (24 accumulators) 80-142 (GCC keeps them in memory).
// One row, one group: the group's 32 x Kp bytes are one contiguous stream; k-quads q = c (mod 4)
// go to accumulator set c (8 independent chains), summed at the end (integer sums: exact in any order).
template <bool F32>
inline void i8_row1(const GemmArgs& ar, std::int64_t rg) {
  const PackedI8& w = *ar.w;
  const std::int8_t* wg = w.data.data() + rg * kGroupRows * w.Kp;
  const std::int64_t nq = w.Kp / 4;
  __m512i acc[4][2];
  static_for<4>([&](auto c) { static_for<2>([&](auto h) { acc[c][h] = _mm512_setzero_si512(); }); });
  std::int64_t q = 0;
  for (; q + 4 <= nq; q += 4) {
    static_for<4>([&](auto c) {
      const __m512i a = bcast4(ar.qa + 4 * (q + c));
      static_for<2>([&](auto h) {
        acc[c][h] = _mm512_dpbusd_epi32(acc[c][h], a, _mm512_load_si512(wg + (q + c) * 128 + h * 64));
      });
    });
  }
  for (; q < nq; ++q) {
    const __m512i a = bcast4(ar.qa + 4 * q);
    static_for<2>([&](auto h) { acc[0][h] = _mm512_dpbusd_epi32(acc[0][h], a, _mm512_load_si512(wg + q * 128 + h * 64)); });
  }
  __m512i sum[1][2];
  static_for<2>([&](auto h) {
    sum[0][h] = _mm512_add_epi32(_mm512_add_epi32(acc[0][h], acc[1][h]), _mm512_add_epi32(acc[2][h], acc[3][h]));
  });
  i8_epilogue<1, 1, F32>(ar, 0, rg, sum);
}

template <bool F32>
void avx512_gemm(const GemmArgs& a) {
  const std::int64_t g1 = std::min(a.g1, a.w->groups());
  auto live = [&](std::int64_t g) { return !F32 || g * kGroupRows < a.y_cols; };
  std::int64_t g = a.g0;
  if (a.M == 1) {
    for (; g < g1 && live(g); ++g) i8_row1<F32>(a, g);
    return;
  }
  for (; g < g1 && live(g); ++g) {
    std::int64_t m = 0;
    for (; m + 6 <= a.M; m += 6) i8_rows<6, 1, F32>(a, m, g);
    switch (a.M - m) {
      case 5: i8_rows<5, 1, F32>(a, m, g); break;
      case 4: i8_rows<4, 1, F32>(a, m, g); break;
      case 3: i8_rows<3, 1, F32>(a, m, g); break;
      case 2: i8_rows<2, 1, F32>(a, m, g); break;
      case 1: i8_rows<1, 1, F32>(a, m, g); break;
      default: break;
    }
  }
}

// ---------------------------------------------------------------- fp32 GEMM on packed weights
// MR activation rows x NP panels of 16 weight rows; one FMA chain per output over k ascending
// (the contract). x[i][k] is read at xb[i * si + k * sk]: the rows in place, or a packed block.
template <int MR, int NP>
inline void f32_block(const GemmF32Args& a, std::int64_t m0, std::int64_t p0, const float* xb, std::int64_t si,
                      std::int64_t sk) {
  const PackedF32& w = *a.w;
  const std::int64_t K = w.K;
  __m512 acc[MR][NP];
  static_for<MR>([&](auto i) { static_for<NP>([&](auto j) { acc[i][j] = _mm512_setzero_ps(); }); });
  const float* wp = w.data.data() + p0 * 16 * K;
  for (std::int64_t k = 0; k < K; ++k) {
    __m512 wv[NP];
    static_for<NP>([&](auto j) { wv[j] = _mm512_load_ps(wp + j * 16 * K + 16 * k); });
    static_for<MR>([&](auto i) {
      const __m512 x = _mm512_set1_ps(xb[i * si + k * sk]);
      static_for<NP>([&](auto j) { acc[i][j] = _mm512_fmadd_ps(x, wv[j], acc[i][j]); });
    });
  }
  static_for<MR>([&](auto i) {
    const std::int64_t m = m0 + i;
    static_for<NP>([&](auto j) {
      const std::int64_t r = (p0 + j) * 16;
      if (r < a.y_cols) finish16(acc[i][j], a.addend ? a.addend + m * a.ld_add : nullptr, a.bias, a.y + m * a.ldy, r, a.y_cols);
    });
  });
}

// Rows [m0, m0 + rows) (rows < 8) in place over panels [p0, p1), 3 panels at a time.
template <int MR>
inline void f32_rows_in_place(const GemmF32Args& a, std::int64_t m0, std::int64_t p0, std::int64_t p1) {
  const float* xb = a.x + m0 * a.ldx;
  std::int64_t p = p0;
  for (; p + 3 <= p1; p += 3) f32_block<MR, 3>(a, m0, p, xb, a.ldx, a.ldx_k);
  for (; p < p1; ++p) f32_block<MR, 1>(a, m0, p, xb, a.ldx, a.ldx_k);
}

inline void f32_tail(const GemmF32Args& a, std::int64_t m0, int rows, std::int64_t p0, std::int64_t p1) {
  switch (rows) {
    case 7: f32_rows_in_place<7>(a, m0, p0, p1); break;
    case 6: f32_rows_in_place<6>(a, m0, p0, p1); break;
    case 5: f32_rows_in_place<5>(a, m0, p0, p1); break;
    case 4: f32_rows_in_place<4>(a, m0, p0, p1); break;
    case 3: f32_rows_in_place<3>(a, m0, p0, p1); break;
    case 2: f32_rows_in_place<2>(a, m0, p0, p1); break;
    case 1: f32_rows_in_place<1>(a, m0, p0, p1); break;
    default: break;
  }
}

// One row: 8 panels per pass (8 independent FMA chains). Rows read in place (ldx_k 1): blocks
// of 8 rows x 3 panels (24 accumulators), panel blocks outside so their weights stay in cache
// while the rows pass. Rows with a stride between k (a transposed x, training's weight
// gradient): each block of 8 rows is first copied k-major into a small buffer, then runs over
// every panel (one pass over the strided x instead of one per panel block).
void avx512_sgemm_packed(const GemmF32Args& a) {
  const PackedF32& w = *a.w;
  const std::int64_t p0 = 2 * a.g0, p1 = std::min({2 * a.g1, w.Np / 16, (a.y_cols + 15) / 16});
  if (p1 <= p0 || a.M == 0) return;
  const std::int64_t K = w.K, full = a.M / 8 * 8;
  if (a.M == 1) {
    std::int64_t p = p0;
    for (; p + 8 <= p1; p += 8) f32_block<1, 8>(a, 0, p, a.x, a.ldx, a.ldx_k);
    for (; p + 2 <= p1; p += 2) f32_block<1, 2>(a, 0, p, a.x, a.ldx, a.ldx_k);
    for (; p < p1; ++p) f32_block<1, 1>(a, 0, p, a.x, a.ldx, a.ldx_k);
    return;
  }
  if (a.ldx_k != 1) {
    thread_local AlignedBuffer<float> xp;
    if (xp.size() < static_cast<std::size_t>(8 * K)) xp.resize(static_cast<std::size_t>(8 * K));
    for (std::int64_t m = 0; m < full; m += 8) {
      for (std::int64_t k = 0; k < K; ++k)
        for (int i = 0; i < 8; ++i) xp[static_cast<std::size_t>(8 * k + i)] = a.x[(m + i) * a.ldx + k * a.ldx_k];
      std::int64_t p = p0;
      for (; p + 3 <= p1; p += 3) f32_block<8, 3>(a, m, p, xp.data(), 1, 8);
      for (; p < p1; ++p) f32_block<8, 1>(a, m, p, xp.data(), 1, 8);
    }
  } else {
    std::int64_t p = p0;
    for (; p + 3 <= p1; p += 3)
      for (std::int64_t m = 0; m < full; m += 8) f32_block<8, 3>(a, m, p, a.x + m * a.ldx, a.ldx, 1);
    for (; p < p1; ++p)
      for (std::int64_t m = 0; m < full; m += 8) f32_block<8, 1>(a, m, p, a.x + m * a.ldx, a.ldx, 1);
  }
  f32_tail(a, full, static_cast<int>(a.M - full), p0, p1);
}

Table make_table() {
  Table t = *avx2_table();  // max (order-independent, memory-bound) stays the AVX2 one
  t.isa = Isa::Avx512;
  t.minmax = avx512::minmax;
  t.quantize_u7 = avx512::quantize_u7;
  t.exp = avx512::exp;
  t.tanh = avx512::tanh;
  t.sigmoid = avx512::sigmoid;
  t.max_sumexp = avx512::max_sumexp;
  t.sumexp_lanes = avx512::sumexp_lanes;
  t.exp_sum = avx512::exp_sum;
  t.exp_scale_store = avx512::exp_scale_store;
  t.lstm_fwd = avx512::lstm_fwd;
  t.lstm_bwd = avx512::lstm_bwd;
  t.lstm_fwd_blocked = avx512::lstm_fwd_blocked;
  t.gemm_i32 = avx512_gemm<false>;
  t.gemm_f32 = avx512_gemm<true>;
  t.sgemm_packed = avx512_sgemm_packed;
  t.gemm4_i32 = avx512::gemm4_i32;
  t.gemm4_f32 = avx512::gemm4_f32;
  return t;
}

}  // namespace

const Table* avx512_table() noexcept {
  static const Table t = make_table();
  return &t;
}

// Peak loops (see kernels.hpp): 8 independent accumulators on registers, written in assembly so
// the compiler can neither merge the identical products nor keep the accumulators in memory.
std::int64_t avx512_peak_vnni(std::int64_t iters, std::int32_t* sink) {
  if (!cpu_has_avx512_vnni()) return 0;
  const std::int64_t n0 = iters;
  const __m512i a = _mm512_set1_epi8(100), w = _mm512_set1_epi8(-3);
  alignas(64) std::int32_t out[16];
  asm volatile(
      "vpxord %%zmm5, %%zmm5, %%zmm5\n\tvpxord %%zmm6, %%zmm6, %%zmm6\n\tvpxord %%zmm7, %%zmm7, %%zmm7\n\t"
      "vpxord %%zmm8, %%zmm8, %%zmm8\n\tvpxord %%zmm9, %%zmm9, %%zmm9\n\tvpxord %%zmm10, %%zmm10, %%zmm10\n\t"
      "vpxord %%zmm11, %%zmm11, %%zmm11\n\tvpxord %%zmm12, %%zmm12, %%zmm12\n\t"
      "test %[n], %[n]\n\tjle 2f\n"
      "1:\n\t"
      "vpdpbusd %[w], %[a], %%zmm5\n\tvpdpbusd %[w], %[a], %%zmm6\n\tvpdpbusd %[w], %[a], %%zmm7\n\t"
      "vpdpbusd %[w], %[a], %%zmm8\n\tvpdpbusd %[w], %[a], %%zmm9\n\tvpdpbusd %[w], %[a], %%zmm10\n\t"
      "vpdpbusd %[w], %[a], %%zmm11\n\tvpdpbusd %[w], %[a], %%zmm12\n\t"
      "dec %[n]\n\tjnz 1b\n"
      "2:\n\t"
      "vpaddd %%zmm6, %%zmm5, %%zmm5\n\tvpaddd %%zmm8, %%zmm7, %%zmm7\n\tvpaddd %%zmm10, %%zmm9, %%zmm9\n\t"
      "vpaddd %%zmm12, %%zmm11, %%zmm11\n\tvpaddd %%zmm7, %%zmm5, %%zmm5\n\tvpaddd %%zmm11, %%zmm9, %%zmm9\n\t"
      "vpaddd %%zmm9, %%zmm5, %%zmm5\n\tvmovdqa32 %%zmm5, %[out]\n\t"
      : [n] "+r"(iters), [out] "=m"(out)
      : [a] "v"(a), [w] "v"(w)
      : "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "cc");
  *sink = out[0];
  return n0 > 0 ? n0 * 8 * 64 : 0;
}

std::int64_t avx512_peak_fma(std::int64_t iters, float* sink) {
  if (!cpu_has_avx512_vnni()) return 0;
  constexpr int kAcc = 12;
  __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f), acc[kAcc];
  static_for<kAcc>([&](auto i) { acc[i] = _mm512_set1_ps(0.01f * (i + 1)); });
  for (std::int64_t it = 0; it < iters; ++it) {
    asm volatile("" : "+v"(x), "+v"(y));
    static_for<kAcc>([&](auto i) { acc[i] = _mm512_fmadd_ps(acc[i], x, y); });
  }
  __m512 s = acc[0];
  static_for<kAcc - 1>([&](auto i) { s = _mm512_add_ps(s, acc[i + 1]); });
  *sink = _mm512_reduce_add_ps(s);
  return iters * kAcc * 16;
}

}  // namespace wordlm::kernels
