// AVX-512 VNNI 4-bit grouped GEMM (the table's gemm4_i32 and gemm4_f32): PackedI4 weights against
// 7-bit activations, integers exact (the reference's), the float step per group the contract's,
// so results are bit-identical to the scalar and AVX2 tables. Two float paths: the direct one
// (nibbles unpacked to signed codes) and, on wide calls, the centred one (operands swapped).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/aligned.hpp"
#include "kernels/avx512_common.hpp"
#include "kernels/avx512_inline.hpp"
#include "kernels/kernels.hpp"

namespace wordlm::kernels::avx512 {

namespace {

// Blocks of 4 rows, and of 5 where that avoids a short tail: M = 4 n4 + 5 n5 with n5 = M mod 4
// (M = 10, a b1 x s10 product: 5 + 5 instead of 4 + 4 + 2). Not 5 throughout: 350 rows ran ~10%
// slower in blocks of 5 than of 4 (micro-benchmarks).
template <class Rows4, class Rows5, class Rows3, class Rows2, class Rows1>
inline void row_blocks(std::int64_t M, Rows4 r4, Rows5 r5, Rows3 r3, Rows2 r2, Rows1 r1) {
  const std::int64_t n5 = M >= 5 * (M % 4) ? M % 4 : 0;
  std::int64_t m = 0;
  for (; m + 4 <= M - 5 * n5; m += 4) r4(m);
  for (std::int64_t b = 0; b < n5; ++b, m += 5) r5(m);
  switch (M - m) {
    case 3: r3(m); break;
    case 2: r2(m); break;
    case 1: r1(m); break;
    default: break;
  }
}

// The end of both float paths: rows m0.. of one 32-row group, v[m][j] = sum over groups, times the
// row's activation scale, then (+ addend) (+ bias) and the store.
template <int MR>
inline void finish_rows(const Gemm4Args& ar, std::int64_t m0, std::int64_t r0, const __m512 (&v)[MR][2]) {
  static_for<MR>([&](auto m) {
    const std::int64_t mm = m0 + m;
    const __m512 sa = _mm512_set1_ps(ar.sa[mm]);
    static_for<2>([&](auto j) {
      const std::int64_t r = r0 + 16 * j;
      if (r < ar.y_cols)
        finish16(_mm512_mul_ps(v[m][j], sa), ar.addend ? ar.addend + mm * ar.ld_add : nullptr, ar.bias, ar.y + mm * ar.ldy,
                 r, ar.y_cols);
    });
  });
}

// MR rows x one 32-row group: per k-octet two 64-byte loads (16 rows x 8 k each), unpacked into
// the int8 k-quad operands (low nibbles k 0..3, high nibbles k 4..7, minus 8), vpdpbusd; at the
// end of each K group either the int32 sums are stored (gemm4_i32) or the contract's float step
// v += float(acc_g - zp * colsum_g) * sw_g is taken (gemm4_f32 on calls with few output rows).
// Tried and not kept: unpacking a group once per call into an int8 buffer and running the rows on
// it from L1 (micro-benchmarks: 10 x N x K 211-236 GMAC/s against 247-288 for this kernel, 350
// rows 136 against 233).
template <int MR, bool F32>
inline void i4_rows(const Gemm4Args& ar, std::int64_t m0, std::int64_t rg) {
  const PackedI4& w = *ar.w;
  const __m512i low = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
  const std::uint8_t* wg = w.data.data() + rg * kGroupRows * w.K / 2;
  const std::int64_t r0 = rg * kGroupRows, octets = w.G / 8;
  const std::uint8_t* qa = ar.qa + m0 * ar.lda;
  __m512 v[MR][2];
  static_for<MR>([&](auto m) { static_for<2>([&](auto j) { v[m][j] = _mm512_setzero_ps(); }); });
  for (std::int64_t g = 0; g < w.nG; ++g) {
    __m512i acc[MR][2];
    static_for<MR>([&](auto m) { static_for<2>([&](auto j) { acc[m][j] = _mm512_setzero_si512(); }); });
    for (std::int64_t o = g * octets; o < (g + 1) * octets; ++o) {
      __m512i wlo[2], whi[2];
      static_for<2>([&](auto j) {
        const __m512i raw = _mm512_load_si512(wg + o * 128 + j * 64);
        wlo[j] = _mm512_sub_epi8(_mm512_and_si512(raw, low), eight);
        whi[j] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(raw, 4), low), eight);
      });
      static_for<MR>([&](auto m) {
        const __m512i alo = bcast4(qa + m * ar.lda + 8 * o), ahi = bcast4(qa + m * ar.lda + 8 * o + 4);
        static_for<2>([&](auto j) {
          acc[m][j] = _mm512_dpbusd_epi32(acc[m][j], alo, wlo[j]);
          acc[m][j] = _mm512_dpbusd_epi32(acc[m][j], ahi, whi[j]);
        });
      });
    }
    static_for<MR>([&](auto m) {
      if constexpr (F32) {
        const __m512i zp = _mm512_set1_epi32(ar.zpa[m0 + m]);
        static_for<2>([&](auto j) {
          const std::int64_t i = g * w.Np + r0 + 16 * j;
          const __m512i colsum = _mm512_load_si512(w.colsum.data() + i);
          const __m512 c = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[m][j], _mm512_mullo_epi32(zp, colsum)));
          v[m][j] = _mm512_add_ps(v[m][j], _mm512_mul_ps(c, _mm512_load_ps(w.scale.data() + i)));
        });
      } else {
        static_for<2>([&](auto j) {
          _mm512_storeu_si512(ar.acc + ((m0 + m) * w.nG + g) * ar.ldacc + r0 + 16 * j, acc[m][j]);
        });
      }
    });
  }
  if constexpr (F32) finish_rows<MR>(ar, m0, r0, v);
}

// The float variant with the operands' roles swapped: vpdpbusd's unsigned operand is the stored
// nibble itself (w + 8, in [1, 15]) and its signed one the centred activation d = q - zp (in
// [-127, 127], the rows made once per call). Per group the lane then holds
// sum (w + 8) d = sum w d + 8 sum d, so  acc - 8 * dsum_g = sum w (q - zp) = acc_g - zp * colsum_g:
// the reference's integer, exactly, without the per-weight "- 8" of the unpacking and without the
// per-group multiply by zp; the float step that follows is unchanged. (b1 x s10 of the small
// model, 4-bit: docs/quantization.md.)
template <int MR>
inline void i4_rows_centred(const Gemm4Args& ar, const std::int8_t* dx, std::int64_t ldd, const std::int32_t* dsum,
                            std::int64_t m0, std::int64_t rg) {
  const PackedI4& w = *ar.w;
  const __m512i low = _mm512_set1_epi8(0x0F);
  const std::uint8_t* wg = w.data.data() + rg * kGroupRows * w.K / 2;
  const std::int64_t r0 = rg * kGroupRows, octets = w.G / 8;
  const std::int8_t* d = dx + m0 * ldd;
  __m512 v[MR][2];
  static_for<MR>([&](auto m) { static_for<2>([&](auto j) { v[m][j] = _mm512_setzero_ps(); }); });
  for (std::int64_t g = 0; g < w.nG; ++g) {
    __m512i acc[MR][2];
    static_for<MR>([&](auto m) { static_for<2>([&](auto j) { acc[m][j] = _mm512_setzero_si512(); }); });
    for (std::int64_t o = g * octets; o < (g + 1) * octets; ++o) {
      __m512i wlo[2], whi[2];
      static_for<2>([&](auto j) {
        const __m512i raw = _mm512_load_si512(wg + o * 128 + j * 64);
        wlo[j] = _mm512_and_si512(raw, low);
        whi[j] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low);
      });
      static_for<MR>([&](auto m) {
        const auto* dm = reinterpret_cast<const std::uint8_t*>(d + m * ldd + 8 * o);
        const __m512i alo = bcast4(dm), ahi = bcast4(dm + 4);
        static_for<2>([&](auto j) {
          acc[m][j] = _mm512_dpbusd_epi32(acc[m][j], wlo[j], alo);
          acc[m][j] = _mm512_dpbusd_epi32(acc[m][j], whi[j], ahi);
        });
      });
    }
    static_for<MR>([&](auto m) {
      const __m512i corr = _mm512_set1_epi32(8 * dsum[(m0 + m) * w.nG + g]);
      static_for<2>([&](auto j) {
        const std::int64_t i = g * w.Np + r0 + 16 * j;
        const __m512 c = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[m][j], corr));
        v[m][j] = _mm512_add_ps(v[m][j], _mm512_mul_ps(c, _mm512_load_ps(w.scale.data() + i)));
      });
    });
  }
  finish_rows<MR>(ar, m0, r0, v);
}

void avx512_gemm4_centred(const Gemm4Args& a) {
  const PackedI4& w = *a.w;
  const std::int64_t K = w.K, nG = w.nG;
  thread_local AlignedBuffer<std::int8_t> dx;     // [M, K] q - zp
  thread_local AlignedBuffer<std::int32_t> dsum;  // [M, nG] per group
  if (dx.size() < static_cast<std::size_t>(a.M * K)) dx = AlignedBuffer<std::int8_t>(static_cast<std::size_t>(a.M * K));
  if (dsum.size() < static_cast<std::size_t>(a.M * nG)) dsum = AlignedBuffer<std::int32_t>(static_cast<std::size_t>(a.M * nG));
  for (std::int64_t m = 0; m < a.M; ++m) {
    const std::uint8_t* q = a.qa + m * a.lda;
    const std::int32_t zp = a.zpa[m];
    for (std::int64_t g = 0; g < nG; ++g) {
      std::int32_t sum = 0;
      for (std::int64_t k = g * w.G; k < (g + 1) * w.G; ++k) {
        const std::int32_t v = std::int32_t(q[k]) - zp;
        dx.data()[m * K + k] = static_cast<std::int8_t>(v);
        sum += v;
      }
      dsum.data()[m * nG + g] = sum;
    }
  }
  const std::int64_t g1 = std::min(a.g1, w.groups());
  for (std::int64_t rg = a.g0; rg < g1; ++rg) {
    if (rg * kGroupRows >= a.y_cols) break;
    const std::int8_t* d = dx.data();
    const std::int32_t* ds = dsum.data();
    row_blocks(
        a.M, [&](std::int64_t m) { i4_rows_centred<4>(a, d, K, ds, m, rg); },
        [&](std::int64_t m) { i4_rows_centred<5>(a, d, K, ds, m, rg); },
        [&](std::int64_t m) { i4_rows_centred<3>(a, d, K, ds, m, rg); },
        [&](std::int64_t m) { i4_rows_centred<2>(a, d, K, ds, m, rg); },
        [&](std::int64_t m) { i4_rows_centred<1>(a, d, K, ds, m, rg); });
  }
}

template <bool F32>
void avx512_gemm4(const Gemm4Args& a) {
  const std::int64_t g1 = std::min(a.g1, a.w->groups());
  for (std::int64_t rg = a.g0; rg < g1; ++rg) {
    if (F32 && rg * kGroupRows >= a.y_cols) break;
    row_blocks(
        a.M, [&](std::int64_t m) { i4_rows<4, F32>(a, m, rg); }, [&](std::int64_t m) { i4_rows<5, F32>(a, m, rg); },
        [&](std::int64_t m) { i4_rows<3, F32>(a, m, rg); }, [&](std::int64_t m) { i4_rows<2, F32>(a, m, rg); },
        [&](std::int64_t m) { i4_rows<1, F32>(a, m, rg); });
  }
}

// gemm4_f32: the centred kernel pays a pass over the call's M x K activations, which a call with
// few output rows cannot repay (evaluation's block-wise decoder takes 128 outputs per call: 350 x
// 200 bytes centred 79 times a window made 4-bit evaluation 2.4x slower); below this many 32-row
// groups the direct kernel runs. Both give the same bits.
constexpr std::int64_t kCentredMinGroups = 64;  // 2,048 output rows

void avx512_gemm4_f32(const Gemm4Args& a) {
  if (std::min(a.g1, a.w->groups()) - a.g0 >= kCentredMinGroups) avx512_gemm4_centred(a);
  else avx512_gemm4<true>(a);
}

}  // namespace

void gemm4_i32(const Gemm4Args& a) { avx512_gemm4<false>(a); }
void gemm4_f32(const Gemm4Args& a) { avx512_gemm4_f32(a); }

}  // namespace wordlm::kernels::avx512
