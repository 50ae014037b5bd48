// AVX2 GEMM kernels: the int8 GEMM (vpmaddubsw + vpmaddwd, exact under the 7-bit activation
// contract in kernels.hpp) and the fp32 small-M GEMM on packed weights, plus the AVX2 dispatch
// table. Compiled with -mavx2 -mfma and reached only through the table after a CPUID check.
#include <algorithm>
#include <cstring>
#include <utility>

#include "kernels/avx2_common.hpp"

namespace wordlm::kernels {

namespace {

using namespace avx2;

// ---------------------------------------------------------------- int8 GEMM
// Accumulates one row group (32 output rows) for MR activation rows over all of K.
template <int MR>
inline void group_kernel(const std::uint8_t* qa, std::int64_t lda, const std::int8_t* wg, std::int64_t Kp,
                         std::int32_t (&out)[MR][4][8]) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[MR][4];
  static_for<MR>([&](auto m) { static_for<4>([&](auto s) { acc[m][s] = _mm256_setzero_si256(); }); });
  const std::int64_t nq = Kp / 4;
  for (std::int64_t q = 0; q < nq; ++q) {
    __m256i a[MR];
    static_for<MR>([&](auto m) {
      std::int32_t four;
      std::memcpy(&four, qa + m * lda + 4 * q, 4);
      a[m] = _mm256_set1_epi32(four);
    });
    const __m256i* wq = reinterpret_cast<const __m256i*>(wg + q * 128);
    static_for<4>([&](auto s) {
      const __m256i w = _mm256_load_si256(wq + s);
      static_for<MR>([&](auto m) {
        acc[m][s] = _mm256_add_epi32(acc[m][s], _mm256_madd_epi16(_mm256_maddubs_epi16(a[m], w), ones));
      });
    });
  }
  static_for<MR>([&](auto m) {
    static_for<4>([&](auto s) { _mm256_store_si256(reinterpret_cast<__m256i*>(out[m][s]), acc[m][s]); });
  });
}

// The end of every float GEMM epilogue: v holds columns r..r+7 of one output row; add the addend
template <int MR>
inline void store_i32(const GemmArgs& ar, std::int64_t m0, std::int64_t r0, const std::int32_t (&acc)[MR][4][8]) {
  for (int m = 0; m < MR; ++m)
    for (int s = 0; s < 4; ++s)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ar.acc + (m0 + m) * ar.ldacc + r0 + 8 * s),
                          _mm256_load_si256(reinterpret_cast<const __m256i*>(acc[m][s])));
}

template <int MR>
inline void store_f32(const GemmArgs& ar, std::int64_t m0, std::int64_t r0, const std::int32_t (&acc)[MR][4][8]) {
  const PackedI8& w = *ar.w;
  for (int m = 0; m < MR; ++m) {
    const std::int64_t mm = m0 + m;
    const __m256i zp = _mm256_set1_epi32(ar.zpa[mm]);
    const __m256 sa = _mm256_set1_ps(ar.sa[mm]);
    for (int s = 0; s < 4; ++s) {
      const std::int64_t r = r0 + 8 * s;
      if (r >= ar.y_cols) break;
      const __m256i colsum = _mm256_load_si256(reinterpret_cast<const __m256i*>(w.colsum.data() + r));
      const __m256 sw = _mm256_load_ps(w.scale.data() + r);
      const __m256i centered =
          _mm256_sub_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(acc[m][s])), _mm256_mullo_epi32(zp, colsum));
      const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(centered), _mm256_mul_ps(sa, sw));
      finish8(v, ar.addend ? ar.addend + mm * ar.ld_add : nullptr, ar.bias, ar.y + mm * ar.ldy, r, ar.y_cols);
    }
  }
}

template <bool F32>
void avx2_gemm(const GemmArgs& a) {
  const PackedI8& w = *a.w;
  const std::int64_t g1 = std::min(a.g1, w.groups());
  for (std::int64_t g = a.g0; g < g1; ++g) {
    const std::int8_t* wg = w.data.data() + g * kGroupRows * w.Kp;
    const std::int64_t r0 = g * kGroupRows;
    if (F32 && r0 >= a.y_cols) break;
    std::int64_t m = 0;
    for (; m + 2 <= a.M; m += 2) {
      alignas(32) std::int32_t acc[2][4][8];
      group_kernel<2>(a.qa + m * a.lda, a.lda, wg, w.Kp, acc);
      if constexpr (F32) store_f32<2>(a, m, r0, acc); else store_i32<2>(a, m, r0, acc);
    }
    if (m < a.M) {
      alignas(32) std::int32_t acc[1][4][8];
      group_kernel<1>(a.qa + m * a.lda, a.lda, wg, w.Kp, acc);
      if constexpr (F32) store_f32<1>(a, m, r0, acc); else store_i32<1>(a, m, r0, acc);
    }
  }
}

// ---------------------------------------------------------------- 4-bit grouped GEMM
// Register block: MR activation rows x 8*NS weight rows (NS 8-row sub-panels of a 32-row group,
// starting at sub-panel s0). Codes are at most 8 in magnitude, so a vpmaddubsw pair is at most
// 2 * 127 * 8 = 2032 and up to 16 pairs add in int16 without overflow: the products of up to 8
// k-octets (64 k) accumulate with vpaddw, and only then widen to int32 (vpmaddwd by ones) - half
// the multiplier work of the int8 core per product. The integers are the reference's exactly; the
// float steps of the epilogue (per group, in order) are the contract's.
constexpr std::int64_t kI16Octets = 8;  // k-octets whose pair sums fit int16: 16 * 2032 <= 32767

// acc16[m][s] += the products of k-octets [o0, o1) (at most kI16Octets of them).
template <int MR, int NS>
inline __attribute__((always_inline)) void gemm4_octets(const std::uint8_t* const (&qa)[MR], const std::uint8_t* wg,
                                                       std::int64_t o0, std::int64_t o1, __m256i (&acc16)[MR][NS]) {
  const __m256i low = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
  for (std::int64_t o = o0; o < o1; ++o) {
    const __m256i* wo = reinterpret_cast<const __m256i*>(wg + o * 128);
    static_for<NS>([&](auto s) {
      const __m256i raw = _mm256_load_si256(wo + s);
      const __m256i wlo = _mm256_sub_epi8(_mm256_and_si256(raw, low), eight);
      const __m256i whi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(raw, 4), low), eight);
      static_for<MR>([&](auto m) {
        std::int32_t lo4, hi4;
        std::memcpy(&lo4, qa[m] + 8 * o, 4);
        std::memcpy(&hi4, qa[m] + 8 * o + 4, 4);
        acc16[m][s] = _mm256_add_epi16(acc16[m][s], _mm256_maddubs_epi16(_mm256_set1_epi32(lo4), wlo));
        acc16[m][s] = _mm256_add_epi16(acc16[m][s], _mm256_maddubs_epi16(_mm256_set1_epi32(hi4), whi));
      });
    });
  }
}

template <int MR, int NS, bool F32>
inline void gemm4_block(const Gemm4Args& ar, std::int64_t m0, std::int64_t rg, int s0) {
  const PackedI4& w = *ar.w;
  const __m256i ones = _mm256_set1_epi16(1);
  const std::uint8_t* wg = w.data.data() + rg * kGroupRows * w.K / 2 + s0 * 32;
  const std::int64_t r0 = rg * kGroupRows + s0 * 8, octets = w.G / 8;
  const std::uint8_t* qa[MR];
  static_for<MR>([&](auto m) { qa[m] = ar.qa + (m0 + m) * ar.lda; });
  alignas(32) float v[MR][NS][8];
  static_for<MR>([&](auto m) { static_for<NS>([&](auto s) { _mm256_store_ps(v[m][s], _mm256_setzero_ps()); }); });
  for (std::int64_t g = 0; g < w.nG; ++g) {
    __m256i acc[MR][NS];  // int32
    __m256i acc16[MR][NS];
    static_for<MR>([&](auto m) { static_for<NS>([&](auto s) { acc16[m][s] = _mm256_setzero_si256(); }); });
    const std::int64_t o_end = (g + 1) * octets;
    gemm4_octets<MR, NS>(qa, wg, g * octets, std::min(o_end, g * octets + kI16Octets), acc16);
    static_for<MR>([&](auto m) { static_for<NS>([&](auto s) { acc[m][s] = _mm256_madd_epi16(acc16[m][s], ones); }); });
    for (std::int64_t o0 = g * octets + kI16Octets; o0 < o_end; o0 += kI16Octets) {  // groups over 64 only
      static_for<MR>([&](auto m) { static_for<NS>([&](auto s) { acc16[m][s] = _mm256_setzero_si256(); }); });
      gemm4_octets<MR, NS>(qa, wg, o0, std::min(o_end, o0 + kI16Octets), acc16);
      static_for<MR>([&](auto m) {
        static_for<NS>([&](auto s) { acc[m][s] = _mm256_add_epi32(acc[m][s], _mm256_madd_epi16(acc16[m][s], ones)); });
      });
    }
    static_for<MR>([&](auto m) {
      if constexpr (F32) {
        const __m256i zp = _mm256_set1_epi32(ar.zpa[m0 + m]);
        static_for<NS>([&](auto s) {
          const std::size_t i = static_cast<std::size_t>(g * w.Np + r0 + 8 * s);
          const __m256i colsum = _mm256_load_si256(reinterpret_cast<const __m256i*>(w.colsum.data() + i));
          const __m256 c = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[m][s], _mm256_mullo_epi32(zp, colsum)));
          _mm256_store_ps(v[m][s], _mm256_add_ps(_mm256_load_ps(v[m][s]), _mm256_mul_ps(c, _mm256_load_ps(w.scale.data() + i))));
        });
      } else {
        static_for<NS>([&](auto s) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(ar.acc + ((m0 + m) * w.nG + g) * ar.ldacc + r0 + 8 * s), acc[m][s]);
        });
      }
    });
  }
  if constexpr (F32) {
    for (int m = 0; m < MR; ++m) {
      const std::int64_t mm = m0 + m;
      const __m256 sa = _mm256_set1_ps(ar.sa[mm]);
      for (int s = 0; s < NS; ++s) {
        const std::int64_t r = r0 + 8 * s;
        if (r >= ar.y_cols) break;
        finish8(_mm256_mul_ps(_mm256_load_ps(v[m][s]), sa), ar.addend ? ar.addend + mm * ar.ld_add : nullptr, ar.bias,
                ar.y + mm * ar.ldy, r, ar.y_cols);
      }
    }
  }
}

// One activation row (decode, recurrent steps) takes a whole 32-row group per pass (fewer loop
// and epilogue overheads per weight); more rows go 4 at a time over 16-row halves (8 int16
// accumulators stay in registers). Tried for one row and not kept (no faster within the noise
// of the micro-benchmarks at 1 x 800 x 200, 1 x 10000 x 200 and 1 x 2048 x 512): offset nibbles
// u = w + 8 used without the unpacking subtraction, the offset restored exactly from the row's
// activation sums per group (separate low/high int16 accumulators).
template <bool F32>
void avx2_gemm4(const Gemm4Args& a) {
  const std::int64_t g1 = std::min(a.g1, a.w->groups());
  for (std::int64_t rg = a.g0; rg < g1; ++rg) {
    if (F32 && rg * kGroupRows >= a.y_cols) break;
    if (a.M == 1) {
      gemm4_block<1, 4, F32>(a, 0, rg, 0);
      continue;
    }
    for (int s0 = 0; s0 < 4; s0 += 2) {
      if (F32 && rg * kGroupRows + s0 * 8 >= a.y_cols) break;
      std::int64_t m = 0;
      for (; m + 4 <= a.M; m += 4) gemm4_block<4, 2, F32>(a, m, rg, s0);
      switch (a.M - m) {
        case 3: gemm4_block<3, 2, F32>(a, m, rg, s0); break;
        case 2: gemm4_block<2, 2, F32>(a, m, rg, s0); break;
        case 1: gemm4_block<1, 2, F32>(a, m, rg, s0); break;
        default: break;
      }
    }
  }
}

// ---------------------------------------------------------------- fp32 small-M GEMM
// MR activation rows x NP panels of 16 weight rows, one FMA chain per output over k ascending.
// x rows are read either in place (xs = 1: x[i][k] at xr[i] + k) or from a packed panel of 6
// rows (xs = 6: x[i][k] at xp + 6k + i); both give the same values, so the same results.
template <int MR, int NP, int XS>
inline void sgemm_block(const GemmF32Args& a, std::int64_t m0, std::int64_t p0, const float* xp = nullptr) {
  const PackedF32& w = *a.w;
  const std::int64_t K = w.K;
  __m256 acc[MR][2 * NP];
  static_for<MR>([&](auto i) { static_for<2 * NP>([&](auto c) { acc[i][c] = _mm256_setzero_ps(); }); });
  const float* wp = w.data.data() + p0 * 16 * K;
  const float* xr[MR];
  static_for<MR>([&](auto i) { xr[i] = XS == 1 ? a.x + (m0 + i) * a.ldx : xp + i; });
  const std::int64_t xs = XS == 1 ? a.ldx_k : XS;  // step between consecutive k of one x row
  for (std::int64_t k = 0; k < K; ++k) {
    __m256 wv[2 * NP];
    static_for<NP>([&](auto j) {
      wv[2 * j] = _mm256_load_ps(wp + j * 16 * K + 16 * k);
      wv[2 * j + 1] = _mm256_load_ps(wp + j * 16 * K + 16 * k + 8);
    });
    static_for<MR>([&](auto i) {
      const __m256 xb = _mm256_broadcast_ss(xr[i] + xs * k);
      static_for<2 * NP>([&](auto c) { acc[i][c] = _mm256_fmadd_ps(xb, wv[c], acc[i][c]); });
    });
  }
  // Spill the accumulators once with constant indices, so that inside the k loop they live in
  // registers (dynamic indexing in the epilogue would force them to memory every iteration).
  alignas(32) float res[MR][2 * NP][8];
  static_for<MR>([&](auto i) { static_for<2 * NP>([&](auto c) { _mm256_store_ps(res[i][c], acc[i][c]); }); });
  for (int i = 0; i < MR; ++i) {
    const std::int64_t m = m0 + i;
    for (int c = 0; c < 2 * NP; ++c) {
      const std::int64_t r = (p0 + c / 2) * 16 + (c % 2) * 8;
      if (r >= a.y_cols) break;
      finish8(_mm256_load_ps(res[i][c]), a.addend ? a.addend + m * a.ld_add : nullptr, a.bias, a.y + m * a.ldy, r,
              a.y_cols);
    }
  }
}

// Blocks of 4..6 rows cover one panel only: callers use NP > 1 solely when M <= 3.
template <int NP>
inline void sgemm_rows(const GemmF32Args& a, std::int64_t m0, int rows, std::int64_t p) {
  if (NP > 1 && rows > 3) __builtin_trap();  // would silently skip NP - 1 panels
  switch (rows) {
    case 1: sgemm_block<1, NP, 1>(a, m0, p); break;
    case 2: sgemm_block<2, NP, 1>(a, m0, p); break;
    case 3: sgemm_block<3, NP, 1>(a, m0, p); break;
    case 4: sgemm_block<4, 1, 1>(a, m0, p); break;
    case 5: sgemm_block<5, 1, 1>(a, m0, p); break;
    default: sgemm_block<6, 1, 1>(a, m0, p); break;
  }
}

void avx2_sgemm_packed(const GemmF32Args& a) {
  const PackedF32& w = *a.w;
  const std::int64_t p0 = 2 * a.g0, p1 = std::min({2 * a.g1, w.Np / 16, (a.y_cols + 15) / 16});
  if (p1 <= p0 || a.M == 0) return;
  const std::int64_t K = w.K;
  if (a.M >= 12) {
    // Many rows: copy full 6-row blocks of x into k-major panels once, so that the 6x16 kernel
    // reads its broadcasts from one contiguous stream; the remaining rows go through in place.
    const std::int64_t full = a.M / 6;
    thread_local AlignedBuffer<float> xpack;
    if (xpack.size() < static_cast<std::size_t>(full * 6 * K)) xpack.resize(static_cast<std::size_t>(full * 6 * K));
    for (std::int64_t b = 0; b < full; ++b)
      for (std::int64_t i = 0; i < 6; ++i) {
        const float* src = a.x + (6 * b + i) * a.ldx;
        float* dst = xpack.data() + b * 6 * K + i;
        for (std::int64_t k = 0; k < K; ++k) dst[6 * k] = src[k * a.ldx_k];
      }
    for (std::int64_t p = p0; p < p1; ++p) {
      for (std::int64_t b = 0; b < full; ++b) sgemm_block<6, 1, 6>(a, 6 * b, p, xpack.data() + b * 6 * K);
      if (a.M > 6 * full) sgemm_rows<1>(a, 6 * full, static_cast<int>(a.M - 6 * full), p);
    }
    return;
  }
  // few rows: several panels per pass for independent FMA chains; else blocks of up to 6 rows
  const int np = a.M == 1 ? 4 : a.M <= 3 ? 2 : 1;
  std::int64_t p = p0;
  auto mloop = [&](std::int64_t panel, int npanels) {
    for (std::int64_t m = 0; m < a.M;) {
      const int rows = static_cast<int>(std::min<std::int64_t>(a.M - m, 6));
      if (npanels == 4) sgemm_rows<4>(a, m, rows, panel);
      else if (npanels == 2) sgemm_rows<2>(a, m, rows, panel);
      else sgemm_rows<1>(a, m, rows, panel);
      m += rows;
    }
  };
  for (; p + np <= p1; p += np) mloop(p, np);
  for (; p < p1; ++p) mloop(p, 1);
}

const Table kAvx2Table = {
    Isa::Avx2,     avx2_gemm<false>, avx2_gemm<true>,   avx2_sgemm_packed,     avx2::minmax,   avx2::quantize_u7,
    avx2::exp,     avx2::tanh,       avx2::sigmoid,     avx2::max,             avx2::max_sumexp, avx2::exp_sum,
    avx2::exp_scale_store, avx2::lstm_fwd, avx2::lstm_bwd, avx2_gemm4<false>, avx2_gemm4<true>,
    avx2::lstm_fwd_blocked, avx2::sumexp_lanes,
};

}  // namespace

const Table* avx2_table() noexcept { return &kAvx2Table; }

bool avx2_dot_u8s8_saturating(const std::uint8_t* a, const std::int8_t* w, std::int64_t n, std::int32_t* out) {
  if (!cpu_has_avx2_fma()) return false;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(va, vw), ones));
  }
  alignas(32) std::int32_t l[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(l), acc);
  std::int32_t sum = 0;
  for (int k = 0; k < 8; ++k) sum += l[k];
  for (; i < n; ++i) sum += static_cast<std::int32_t>(a[i]) * w[i];
  *out = sum;
  return true;
}

// Peak loops, on registers only. The int8 one is written in assembly: from intrinsics GCC keeps
// the accumulators of such a loop on the stack, and the store-to-load chains then measure the
// store forwarding, not the multipliers. 8 independent accumulators, 3 rotating temporaries.
std::int64_t avx2_peak_i8(std::int64_t iters, std::int32_t* sink) {
  if (!cpu_has_avx2_fma()) return 0;
  alignas(32) std::int32_t out[8];
  const std::int64_t n0 = iters;
  const __m256i a = _mm256_set1_epi8(100), w = _mm256_set1_epi8(-3), ones = _mm256_set1_epi16(1);
  asm volatile(
      "vpxor %%ymm5, %%ymm5, %%ymm5\n\tvpxor %%ymm6, %%ymm6, %%ymm6\n\tvpxor %%ymm7, %%ymm7, %%ymm7\n\t"
      "vpxor %%ymm8, %%ymm8, %%ymm8\n\tvpxor %%ymm9, %%ymm9, %%ymm9\n\tvpxor %%ymm10, %%ymm10, %%ymm10\n\t"
      "vpxor %%ymm11, %%ymm11, %%ymm11\n\tvpxor %%ymm12, %%ymm12, %%ymm12\n\t"
      "test %[n], %[n]\n\tjle 2f\n"
      "1:\n\t"
#define WORDLM_PEAK_STEP(ACC, T)                                  \
  "vpmaddubsw %[w], %[a], %%ymm" #T "\n\t"                          \
  "vpmaddwd %[ones], %%ymm" #T ", %%ymm" #T "\n\t"                  \
  "vpaddd %%ymm" #T ", %%ymm" #ACC ", %%ymm" #ACC "\n\t"
      WORDLM_PEAK_STEP(5, 13) WORDLM_PEAK_STEP(6, 14) WORDLM_PEAK_STEP(7, 15) WORDLM_PEAK_STEP(8, 13)
      WORDLM_PEAK_STEP(9, 14) WORDLM_PEAK_STEP(10, 15) WORDLM_PEAK_STEP(11, 13) WORDLM_PEAK_STEP(12, 14)
#undef WORDLM_PEAK_STEP
      "dec %[n]\n\tjnz 1b\n"
      "2:\n\t"
      "vpaddd %%ymm6, %%ymm5, %%ymm5\n\tvpaddd %%ymm8, %%ymm7, %%ymm7\n\tvpaddd %%ymm10, %%ymm9, %%ymm9\n\t"
      "vpaddd %%ymm12, %%ymm11, %%ymm11\n\tvpaddd %%ymm7, %%ymm5, %%ymm5\n\tvpaddd %%ymm11, %%ymm9, %%ymm9\n\t"
      "vpaddd %%ymm9, %%ymm5, %%ymm5\n\tvmovdqa %%ymm5, %[out]\n\t"
      : [n] "+r"(iters), [out] "=m"(out)
      : [a] "x"(a), [w] "x"(w), [ones] "x"(ones)
      : "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
  *sink = out[0];
  return n0 > 0 ? n0 * 8 * 32 : 0;
}

// acc = acc * x + y: every chain differs (different starting values), so none can be merged.
std::int64_t avx2_peak_fma(std::int64_t iters, float* sink) {
  if (!cpu_has_avx2_fma()) return 0;
  constexpr int kAcc = 12;
  __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f), acc[kAcc];
  static_for<kAcc>([&](auto i) { acc[i] = _mm256_set1_ps(0.01f * (i + 1)); });
  for (std::int64_t it = 0; it < iters; ++it) {
    asm volatile("" : "+x"(x), "+x"(y));
    static_for<kAcc>([&](auto i) { acc[i] = _mm256_fmadd_ps(acc[i], x, y); });
  }
  __m256 s = acc[0];
  static_for<kAcc - 1>([&](auto i) { s = _mm256_add_ps(s, acc[i + 1]); });
  *sink = _mm256_cvtss_f32(s);
  return iters * kAcc * 8;
}

}  // namespace wordlm::kernels
