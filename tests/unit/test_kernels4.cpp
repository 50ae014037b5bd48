// The 4-bit grouped GEMM: packing, the exact integer core against a direct reference, the float
// epilogue bit-identical across ISAs and equal to the contract's math, saturation corners.
#include <cstring>
#include <vector>

#include "catch2/catch.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "kernels/kernels.hpp"

using namespace wordlm;
using namespace wordlm::kernels;

namespace {


struct Case4 {
  std::int64_t M, N, K, G;
};

std::vector<std::int8_t> codes4(Rng& rng, std::int64_t n, int lo = -8, int hi = 7) {
  std::vector<std::int8_t> w(static_cast<std::size_t>(n));
  for (auto& v : w) v = static_cast<std::int8_t>(lo + static_cast<int>(rng.below(static_cast<std::uint64_t>(hi - lo + 1))));
  return w;
}

// acc_g[m][n] computed straight from the canonical codes
std::int32_t direct(const std::vector<std::uint8_t>& qa, std::int64_t lda, const std::vector<std::int8_t>& w, Case4 c,
                    std::int64_t m, std::int64_t n, std::int64_t g) {
  std::int32_t acc = 0;
  for (std::int64_t k = g * c.G; k < (g + 1) * c.G; ++k)
    acc += std::int32_t{qa[static_cast<std::size_t>(m * lda + k)]} * w[static_cast<std::size_t>(n * c.K + k)];
  return acc;
}

// amax < 0: random activation codes 0..127; otherwise every activation code is amax.
void check_case(Rng& rng, Case4 c, int wlo = -8, int whi = 7, int amax = -1) {
  const std::int64_t lda = c.K + 4 * static_cast<std::int64_t>(rng.below(3));
  std::vector<std::uint8_t> qa(static_cast<std::size_t>(c.M * lda));
  for (auto& v : qa) v = static_cast<std::uint8_t>(amax < 0 ? rng.below(128) : amax);
  const auto w = codes4(rng, c.N * c.K, wlo, whi);
  const std::int64_t nG = c.K / c.G;
  std::vector<float> ws(static_cast<std::size_t>(c.N * nG)), sa(static_cast<std::size_t>(c.M)),
      bias(static_cast<std::size_t>(c.N)), add(static_cast<std::size_t>(c.M * c.N));
  std::vector<std::int32_t> zp(static_cast<std::size_t>(c.M));
  for (auto& v : ws) v = rng.uniform(1e-3f, 1e-1f);
  for (auto& v : sa) v = rng.uniform(1e-3f, 1e-1f);
  for (auto& v : zp) v = static_cast<std::int32_t>(rng.below(128));
  for (auto& v : bias) v = rng.uniform(-1, 1);
  for (auto& v : add) v = rng.uniform(-1, 1);
  PackedI4 p;
  pack_i4(w.data(), ws.data(), c.N, c.K, c.G, p);
  for (std::int64_t n = 0; n < c.N; ++n)
    for (std::int64_t k = 0; k < c.K; ++k) REQUIRE(packed_at(p, n, k) == w[static_cast<std::size_t>(n * c.K + k)]);
  INFO("M " << c.M << " N " << c.N << " K " << c.K << " G " << c.G << " lda " << lda);
  std::vector<float> yref;
  for (const Table* t : available_tables()) {
    INFO("isa " << isa_name(t->isa));
    std::vector<std::int32_t> acc(static_cast<std::size_t>(c.M * nG * p.Np), -7);
    Gemm4Args a;
    a.qa = qa.data(), a.lda = lda, a.M = c.M, a.w = &p, a.g0 = 0, a.g1 = p.groups();
    a.acc = acc.data(), a.ldacc = p.Np;
    t->gemm4_i32(a);
    bool same = true;
    for (std::int64_t m = 0; m < c.M; ++m)
      for (std::int64_t g = 0; g < nG; ++g)
        for (std::int64_t n = 0; n < c.N; ++n)
          same &= acc[static_cast<std::size_t>((m * nG + g) * p.Np + n)] == direct(qa, lda, w, c, m, n, g);
    REQUIRE(same);
    std::vector<float> y(static_cast<std::size_t>(c.M * c.N), 0);
    a.sa = sa.data(), a.zpa = zp.data(), a.bias = bias.data(), a.addend = add.data(), a.ld_add = c.N;
    a.y = y.data(), a.ldy = c.N, a.y_cols = c.N;
    t->gemm4_f32(a);
    if (yref.empty()) {
      yref = y;
      // the contract's float math, element by element
      for (std::int64_t m = 0; m < c.M; ++m)
        for (std::int64_t n = 0; n < c.N; ++n) {
          float v = 0.0f;
          for (std::int64_t g = 0; g < nG; ++g) {
            std::int32_t colsum = 0;
            for (std::int64_t k = g * c.G; k < (g + 1) * c.G; ++k) colsum += w[static_cast<std::size_t>(n * c.K + k)];
            v = v + static_cast<float>(direct(qa, lda, w, c, m, n, g) - zp[static_cast<std::size_t>(m)] * colsum) *
                        ws[static_cast<std::size_t>(n * nG + g)];
          }
          v = v * sa[static_cast<std::size_t>(m)];
          v = v + add[static_cast<std::size_t>(m * c.N + n)];
          v = v + bias[static_cast<std::size_t>(n)];
          REQUIRE(std::memcmp(&v, &y[static_cast<std::size_t>(m * c.N + n)], 4) == 0);
        }
    } else {
      REQUIRE(std::memcmp(y.data(), yref.data(), y.size() * 4) == 0);
    }
  }
}

}  // namespace

TEST_CASE("4-bit packing round-trips every code and refuses group sizes that do not divide K", "[kernels]") {
  Rng rng(1);
  const auto w = codes4(rng, 40 * 64);
  std::vector<float> s(40 * 2, 0.5f);
  PackedI4 p;
  pack_i4(w.data(), s.data(), 40, 64, 32, p);
  CHECK(p.Np == 64);
  CHECK(p.nG == 2);
  for (std::int64_t r = 0; r < 40; ++r)
    for (std::int64_t k = 0; k < 64; ++k) REQUIRE(packed_at(p, r, k) == w[static_cast<std::size_t>(r * 64 + k)]);
  for (std::int64_t r = 40; r < 64; ++r) CHECK(packed_at(p, r, 5) == 0);  // padding rows are zero
  CHECK_THROWS_AS(pack_i4(w.data(), s.data(), 40, 64, 24, p), Error);    // 24 does not divide 64
  CHECK_THROWS_AS(pack_i4(w.data(), s.data(), 40, 64, 12, p), Error);    // not a multiple of 8
  CHECK_THROWS_AS(pack_i4(w.data(), s.data(), 40, 64, 0, p), Error);
}

TEST_CASE("4-bit GEMM integer core and epilogue equal the reference over a shape sweep, both ISAs", "[kernels]") {
  Rng rng(2);
  for (std::int64_t M : {1, 2, 3, 4, 5, 6, 7, 9})  // the AVX2 kernel blocks rows by 4 (tails 1..3) and M = 1 alone
    for (std::int64_t N : {1, 7, 32, 33, 70})
      for (auto [K, G] : {std::pair<std::int64_t, std::int64_t>{8, 8}, {16, 8}, {40, 40}, {64, 32}, {200, 40},
                          {256, 64}, {512, 128}})
        check_case(rng, {M, N, K, G});
  // wide calls (>= 64 row groups): the AVX-512 float path's centred kernel, rows in blocks of 4 and 5
  for (std::int64_t M : {1, 4, 5, 7, 10, 13, 14, 15})
    for (auto [K, G] : {std::pair<std::int64_t, std::int64_t>{200, 40}, {64, 32}})
      check_case(rng, {M, 2048 + 33, K, G});
}

TEST_CASE("4-bit GEMM saturation corners: 127 x -8, 127 x 7, and zero weights", "[kernels]") {
  Rng rng(3);
  for (auto [lo, hi] : {std::pair{-8, -8}, {7, 7}, {0, 0}, {-8, 7}}) check_case(rng, {3, 33, 512, 64}, lo, hi, 127);
  check_case(rng, {2, 64, 1024, 1024}, -8, -8, 127);  // one group spanning all of K
  for (auto [lo, hi] : {std::pair{-8, -8}, {7, 7}, {-8, 7}}) check_case(rng, {10, 2048 + 33, 512, 64}, lo, hi, 127);
}
