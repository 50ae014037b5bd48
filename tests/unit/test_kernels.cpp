// Kernels, compared three ways: a float/double reference of the math, the exact integer (or
// scalar IEEE) reference table, and the optimized table; equality is exact. Shapes sweep K and N
// past every vector width and tail, with saturation corners, zero rows and unaligned pointers.
// Tagged [kernels]: ctest runs these a second time with WORDLM_FORCE_ISA=scalar.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "core/rng.hpp"
#include "kernels/kernels.hpp"
#include "kernels/mathfn.hpp"

using namespace wordlm;
using namespace wordlm::kernels;

namespace {

// The SIMD tables this CPU runs (AVX2, AVX-512); each is compared with the scalar reference.
std::vector<const Table*> simd_tables() {
  auto t = available_tables();
  t.erase(t.begin());
  return t;
}

std::vector<std::int8_t> random_weights(Rng& rng, std::int64_t n) {
  std::vector<std::int8_t> w(static_cast<std::size_t>(n));
  for (auto& v : w) v = static_cast<std::int8_t>(static_cast<int>(rng.below(255)) - 127);
  return w;
}
std::vector<std::uint8_t> random_acts(Rng& rng, std::int64_t n) {
  std::vector<std::uint8_t> a(static_cast<std::size_t>(n));
  for (auto& v : a) v = static_cast<std::uint8_t>(rng.below(128));
  return a;
}

struct GemmCase {
  std::int64_t M, N, K;
};

// Runs gemm_i32 on both tables and compares with an exact integer and a double reference.
void check_gemm_exact(const std::vector<std::uint8_t>& qa, std::int64_t lda, std::int64_t offset,
                      const std::vector<std::int8_t>& w, GemmCase c) {
  std::vector<float> scale(static_cast<std::size_t>(c.N), 1.0f);
  PackedI8 p;
  pack_i8(w.data(), scale.data(), false, c.N, c.K, p);
  REQUIRE(lda >= p.Kp);
  std::vector<std::int32_t> want(static_cast<std::size_t>(c.M * c.N));
  for (std::int64_t m = 0; m < c.M; ++m)
    for (std::int64_t n = 0; n < c.N; ++n) {
      std::int64_t acc = 0;
      double accf = 0;
      for (std::int64_t k = 0; k < c.K; ++k) {
        const auto av = qa[static_cast<std::size_t>(offset + m * lda + k)];
        const auto wv = w[static_cast<std::size_t>(n * c.K + k)];
        acc += av * wv;
        accf += static_cast<double>(av) * static_cast<double>(wv);
      }
      REQUIRE(static_cast<double>(acc) == accf);
      want[static_cast<std::size_t>(m * c.N + n)] = static_cast<std::int32_t>(acc);
    }
  for (const Table* t : available_tables()) {
    std::vector<std::int32_t> got(static_cast<std::size_t>(c.M * p.Np), -7);
    GemmArgs a;
    a.qa = qa.data() + offset;
    a.lda = lda;
    a.M = c.M;
    a.w = &p;
    a.g0 = 0;
    a.g1 = p.groups();
    a.acc = got.data();
    a.ldacc = p.Np;
    t->gemm_i32(a);
    bool same = true;
    for (std::int64_t m = 0; m < c.M; ++m)
      for (std::int64_t n = 0; n < c.N; ++n)
        same &= got[static_cast<std::size_t>(m * p.Np + n)] == want[static_cast<std::size_t>(m * c.N + n)];
    INFO("isa " << isa_name(t->isa) << " M " << c.M << " N " << c.N << " K " << c.K << " lda " << lda << " offset " << offset);
    REQUIRE(same);
  }
}

}  // namespace

TEST_CASE("WORDLM_FORCE_ISA selects the reference kernels or a SIMD table, else the widest one runs", "[kernels]") {
  const char* env = std::getenv("WORDLM_FORCE_ISA");
  const std::string want = env ? env : "";
  if (want == "scalar") CHECK(active_isa() == Isa::Scalar);
  else if (want == "avx2" && cpu_has_avx2_fma()) CHECK(active_isa() == Isa::Avx2);
  else if (cpu_has_avx512_vnni()) CHECK(active_isa() == Isa::Avx512);  // the widest table by default
  else if (cpu_has_avx2_fma()) CHECK(active_isa() == Isa::Avx2);
}

TEST_CASE("pack_i8 layout round-trips and column sums are exact", "[kernels]") {
  Rng rng(1);
  for (std::int64_t N : {1, 7, 32, 33, 70})
    for (std::int64_t K : {1, 3, 4, 5, 64, 130}) {
      auto w = random_weights(rng, N * K);
      std::vector<float> s(static_cast<std::size_t>(N), 0.5f);
      PackedI8 p;
      pack_i8(w.data(), s.data(), false, N, K, p);
      CHECK(p.Np % 32 == 0);
      CHECK(p.Kp % 4 == 0);
      for (std::int64_t r = 0; r < p.Np; ++r) {
        std::int32_t sum = 0;
        for (std::int64_t k = 0; k < p.Kp; ++k) {
          const std::int8_t want = (r < N && k < K) ? w[static_cast<std::size_t>(r * K + k)] : 0;
          REQUIRE(packed_at(p, r, k) == want);
          sum += want;
        }
        REQUIRE(p.colsum[static_cast<std::size_t>(r)] == sum);
      }
    }
}

TEST_CASE("pack_i8 with a row map permutes rows and zero-fills", "[kernels]") {
  Rng rng(2);
  auto w = random_weights(rng, 5 * 6);
  std::vector<float> s{1, 2, 3, 4, 5};
  std::vector<std::int64_t> map(32, -1);
  map[0] = 4, map[1] = 0, map[31] = 2;
  PackedI8 p;
  pack_i8(w.data(), s.data(), false, 5, 6, p, &map);
  for (std::int64_t k = 0; k < 6; ++k) {
    CHECK(packed_at(p, 0, k) == w[static_cast<std::size_t>(4 * 6 + k)]);
    CHECK(packed_at(p, 31, k) == w[static_cast<std::size_t>(2 * 6 + k)]);
    CHECK(packed_at(p, 5, k) == 0);
  }
  CHECK(p.scale[0] == 5.0f);
  CHECK(p.scale[31] == 3.0f);
}

TEST_CASE("int8 GEMM accumulators equal the exact reference over a shape sweep", "[kernels]") {
  Rng rng(3);
  std::vector<std::int64_t> Ks{1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 32, 33, 63, 64, 65, 255, 256, 257, 512, 1024};
  for (std::int64_t K : Ks)
    for (std::int64_t N = 1; N <= 17; ++N)
      for (std::int64_t M = 1; M <= 5; ++M) {
        const std::int64_t lda = (K + 3) / 4 * 4;
        auto qa = random_acts(rng, M * lda);
        auto w = random_weights(rng, N * K);
        check_gemm_exact(qa, lda, 0, w, {M, N, K});
      }
}

TEST_CASE("int8 GEMM is exact for large N and M and unaligned activation rows", "[kernels]") {
  Rng rng(4);
  for (GemmCase c : {GemmCase{8, 1000, 200}, GemmCase{35, 130, 512}, GemmCase{3, 2048, 512}, GemmCase{11, 97, 1024}})
    for (std::int64_t offset : {0, 1, 3}) {
      const std::int64_t lda = (c.K + 3) / 4 * 4 + 4 + offset;  // odd row strides, misaligned starts
      auto qa = random_acts(rng, offset + c.M * lda);
      auto w = random_weights(rng, c.N * c.K);
      check_gemm_exact(qa, lda, offset, w, c);
    }
}

TEST_CASE("int8 GEMM saturation corners: 127 x -127, 127 x 127, alternating signs, zero rows", "[kernels]") {
  for (std::int64_t K : {1, 2, 33, 256, 1024, 4099}) {
    const std::int64_t lda = (K + 3) / 4 * 4;
    const std::int64_t N = 40, M = 3;
    std::vector<std::uint8_t> qa(static_cast<std::size_t>(M * lda), 127);
    std::fill(qa.begin() + lda, qa.begin() + 2 * lda, 0);  // a zero activation row
    std::vector<std::int8_t> w(static_cast<std::size_t>(N * K));
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < K; ++k) {
        std::int8_t v = 0;
        switch (n % 4) {
          case 0: v = -127; break;
          case 1: v = 127; break;
          case 2: v = (k % 2) ? 127 : -127; break;
          case 3: v = 0; break;  // a zero weight row
        }
        w[static_cast<std::size_t>(n * K + k)] = v;
      }
    check_gemm_exact(qa, lda, 0, w, {M, N, K});
  }
}

TEST_CASE("negative control: full-range u8 activations saturate vpmaddubsw", "[kernels]") {
  // 255 * 127 + 255 * 127 = 64770 does not fit int16: the SIMD pair saturates at 32767.
  std::vector<std::uint8_t> a(64, 255);
  std::vector<std::int8_t> w(64, 127);
  std::int32_t got = 0;
  if (!avx2_dot_u8s8_saturating(a.data(), w.data(), 64, &got)) {
    WARN("no AVX2 on this CPU: negative control skipped");
    return;
  }
  const std::int32_t exact = 64 * 255 * 127;
  CHECK(got == 32 * 32767);  // every pair clipped
  CHECK(got != exact);
  // ...while the same data restricted to 7 bits is exact
  std::fill(a.begin(), a.end(), 127);
  REQUIRE(avx2_dot_u8s8_saturating(a.data(), w.data(), 64, &got));
  CHECK(got == 64 * 127 * 127);
}

TEST_CASE("int8 GEMM float epilogue is bit-identical across ISAs", "[kernels]") {
  const Table* t2 = GENERATE_COPY(from_range(simd_tables()));
  INFO("isa " << isa_name(t2->isa));
  Rng rng(5);
  for (GemmCase c : {GemmCase{1, 5, 7}, GemmCase{2, 37, 64}, GemmCase{5, 100, 200}, GemmCase{4, 2048, 512}}) {
    const std::int64_t lda = (c.K + 3) / 4 * 4;
    auto qa = random_acts(rng, c.M * lda);
    auto w = random_weights(rng, c.N * c.K);
    std::vector<float> ws(static_cast<std::size_t>(c.N)), sa(static_cast<std::size_t>(c.M)), bias(static_cast<std::size_t>(c.N)),
        add(static_cast<std::size_t>(c.M * c.N));
    std::vector<std::int32_t> zp(static_cast<std::size_t>(c.M));
    for (auto& v : ws) v = rng.uniform(1e-4f, 1e-2f);
    for (auto& v : sa) v = rng.uniform(1e-3f, 1e-1f);
    for (auto& v : zp) v = static_cast<std::int32_t>(rng.below(128));
    for (auto& v : bias) v = rng.uniform(-1, 1);
    for (auto& v : add) v = rng.uniform(-1, 1);
    PackedI8 p;
    pack_i8(w.data(), ws.data(), false, c.N, c.K, p);
    for (int variant = 0; variant < 3; ++variant) {
      std::vector<float> y1(static_cast<std::size_t>(c.M * c.N), 0), y2 = y1;
      GemmArgs a;
      a.qa = qa.data(), a.lda = lda, a.M = c.M, a.w = &p, a.g0 = 0, a.g1 = p.groups();
      a.sa = sa.data(), a.zpa = zp.data(), a.ldy = c.N, a.y_cols = c.N;
      if (variant >= 1) a.bias = bias.data();
      if (variant >= 2) a.addend = add.data(), a.ld_add = c.N;
      a.y = y1.data();
      table(Isa::Scalar).gemm_f32(a);
      a.y = y2.data();
      t2->gemm_f32(a);
      REQUIRE(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
      // and the float result matches the math to rounding
      for (std::int64_t m = 0; m < c.M; ++m)
        for (std::int64_t n = 0; n < std::min<std::int64_t>(c.N, 5); ++n) {
          double ref = 0;
          for (std::int64_t k = 0; k < c.K; ++k)
            ref += (double(qa[static_cast<std::size_t>(m * lda + k)]) - zp[static_cast<std::size_t>(m)]) *
                   double(w[static_cast<std::size_t>(n * c.K + k)]);
          ref *= double(sa[static_cast<std::size_t>(m)]) * double(ws[static_cast<std::size_t>(n)]);
          if (variant >= 1) ref += bias[static_cast<std::size_t>(n)];
          if (variant >= 2) ref += add[static_cast<std::size_t>(m * c.N + n)];
          CHECK(y1[static_cast<std::size_t>(m * c.N + n)] == Approx(ref).margin(1e-5).epsilon(1e-5));
        }
    }
  }
}

TEST_CASE("activation quantizer stays in 0..127 and round-trips within half a step", "[kernels]") {
  Rng rng(6);
  auto run = [&](std::vector<float> x) {
    for (const Table* t : available_tables()) {
      float lo, hi;
      REQUIRE(t->minmax(x.data(), static_cast<std::int64_t>(x.size()), &lo, &hi));
      const QParams q = qparams_u7(lo, hi);
      REQUIRE(q.scale > 0);
      REQUIRE(q.zp >= 0);
      REQUIRE(q.zp <= 127);
      std::vector<std::uint8_t> out(x.size(), 255);
      t->quantize_u7(x.data(), static_cast<std::int64_t>(x.size()), q.inv_scale, q.zp, out.data());
      for (std::size_t i = 0; i < x.size(); ++i) {
        REQUIRE(out[i] <= 127);
        const double back = (double(out[i]) - q.zp) * q.scale;
        REQUIRE(std::abs(back - x[i]) <= 0.5 * q.scale * 1.0001 + 1e-30 + 1.0 * q.scale * (x[i] < lo || x[i] > hi));
      }
    }
  };
  for (std::size_t n : {1u, 7u, 8u, 31u, 32u, 33u, 100u, 513u}) {
    std::vector<float> x(n);
    for (auto& v : x) v = rng.uniform(-3, 5);
    run(x);
    for (auto& v : x) v = rng.uniform(-1, 1) * 1e30f;  // huge
    run(x);
    for (auto& v : x) v = rng.uniform(-1, 1) * 1e-30f;  // tiny
    run(x);
    std::fill(x.begin(), x.end(), 2.5f);  // constant positive
    run(x);
    std::fill(x.begin(), x.end(), -2.5f);  // constant negative: zp 127
    run(x);
    std::fill(x.begin(), x.end(), 0.0f);  // all zero
    run(x);
  }
  auto z = qparams_u7(0, 0);
  CHECK(z.scale == 1.0f);
  CHECK(z.zp == 0);
  CHECK(qparams_u7(-1, -0.5f).zp == 127);
  CHECK(qparams_u7(0.5f, 3).zp == 0);
}

TEST_CASE("activation quantizer is bit-identical across ISAs and flags NaN and Inf", "[kernels]") {
  Rng rng(7);
  for (std::int64_t n = 1; n <= 80; ++n) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = rng.uniform(-4, 4);
    std::vector<std::uint8_t> q1(x.size()), q2(x.size());
    float lo1, hi1, lo2, hi2;
    table(Isa::Scalar).minmax(x.data(), n, &lo1, &hi1);
    auto qp = qparams_u7(lo1, hi1);
    table(Isa::Scalar).quantize_u7(x.data(), n, qp.inv_scale, qp.zp, q1.data());
    for (const Table* t : simd_tables()) {
      t->minmax(x.data(), n, &lo2, &hi2);
      CHECK(lo1 == lo2);
      CHECK(hi1 == hi2);
      t->quantize_u7(x.data(), n, qp.inv_scale, qp.zp, q2.data());
      REQUIRE(q1 == q2);
    }
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      auto y = x;
      y[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(n)))] = bad;
      for (const Table* t : available_tables())
        CHECK_FALSE(t->minmax(y.data(), n, &lo1, &hi1));
    }
  }
}

TEST_CASE("exp, tanh and sigmoid are accurate against libm", "[kernels]") {
  double max_exp = 0, max_tanh = 0, max_sig = 0;
  for (double v = -87.0; v <= 88.0; v += 0.001) {
    const float x = static_cast<float>(v);
    max_exp = std::max(max_exp, std::abs(mathfn::exp_ref(x) / std::exp(double(x)) - 1));
  }
  for (double v = -20.0; v <= 20.0; v += 0.0005) {
    const float x = static_cast<float>(v);
    const double t = std::tanh(double(x));
    max_tanh = std::max(max_tanh, std::abs(mathfn::tanh_ref(x) - t) / std::max(std::abs(t), 1e-30));
    const double s = 1 / (1 + std::exp(-double(x)));
    max_sig = std::max(max_sig, std::abs(mathfn::sigmoid_ref(x) - s) / s);
  }
  INFO("max rel err exp " << max_exp << " tanh " << max_tanh << " sigmoid " << max_sig);
  CHECK(max_exp < 3e-7);
  CHECK(max_tanh < 5e-7);
  CHECK(max_sig < 5e-7);
  CHECK(mathfn::tanh_ref(0.0f) == 0.0f);
  CHECK(mathfn::tanh_ref(30.0f) == 1.0f);
  CHECK(mathfn::sigmoid_ref(-200.0f) >= 0.0f);
  CHECK(std::isnan(mathfn::exp_ref(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("fp32 elementwise kernels are bit-identical across ISAs", "[kernels]") {
  const Table* t2 = GENERATE_COPY(from_range(simd_tables()));
  INFO("isa " << isa_name(t2->isa));
  const Table& t1 = table(Isa::Scalar);
  Rng rng(8);
  for (std::int64_t n = 1; n <= 70; ++n) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = rng.uniform(-12, 12);
    if (n > 3) x[1] = 0.5499999f, x[2] = -0.55f, x[3] = 100.0f;
    std::vector<float> a(x.size()), b(x.size());
    auto same = [&] { return std::memcmp(a.data(), b.data(), a.size() * 4) == 0; };
    t1.exp(x.data(), a.data(), n), t2->exp(x.data(), b.data(), n);
    REQUIRE(same());
    t1.tanh(x.data(), a.data(), n), t2->tanh(x.data(), b.data(), n);
    REQUIRE(same());
    t1.sigmoid(x.data(), a.data(), n), t2->sigmoid(x.data(), b.data(), n);
    REQUIRE(same());
    REQUIRE(t1.max(x.data(), n) == t2->max(x.data(), n));
    const float shift = t1.max(x.data(), n);
    float m1, m2;
    const float s1 = t1.max_sumexp(x.data(), n, &m1), s2 = t2->max_sumexp(x.data(), n, &m2);
    REQUIRE(s1 == s2);
    REQUIRE(m1 == m2);
    REQUIRE(m1 == shift);
    double ref = 0;  // and it is the log-sum-exp
    for (float v : x) ref += std::exp(double(v) - double(shift));
    REQUIRE(double(s1) == Approx(ref).epsilon(1e-5));
    const float es = t1.exp_sum(x.data(), n, shift);
    REQUIRE(es == t2->exp_sum(x.data(), n, shift));
    REQUIRE(double(es) == Approx(ref).epsilon(1e-5));
    a = x, b = x;
    t1.exp_scale_store(a.data(), n, shift, 0.37f), t2->exp_scale_store(b.data(), n, shift, 0.37f);
    REQUIRE(same());
    for (std::int64_t i = 0; i < n; ++i)  // the softmax numerator times a scale, element by element
      REQUIRE(a[static_cast<std::size_t>(i)] == mathfn::exp_ref(x[static_cast<std::size_t>(i)] - shift) * 0.37f);
  }
}

TEST_CASE("LSTM cell forward and backward are bit-identical across ISAs", "[kernels]") {
  const Table* t2 = GENERATE_COPY(from_range(simd_tables()));
  INFO("isa " << isa_name(t2->isa));
  Rng rng(9);
  for (std::int64_t n = 1; n <= 40; ++n) {
    auto rnd = [&](float lo, float hi) {
      std::vector<float> v(static_cast<std::size_t>(n));
      for (auto& x : v) x = rng.uniform(lo, hi);
      return v;
    };
    auto z = rnd(-4, 4), cp = rnd(-2, 2), dh = rnd(-1, 1), dc = rnd(-1, 1);
    std::vector<float> z1 = z, z2 = z, c1(z.size()), c2(z.size()), h1(z.size()), h2(z.size()), t1(z.size()), t2v(z.size());
    // four gates as four arrays of n
    std::vector<float> g1[4], g2[4];
    for (int g = 0; g < 4; ++g) g1[g] = rnd(-4, 4), g2[g] = g1[g];
    table(Isa::Scalar).lstm_fwd(n, g1[0].data(), g1[1].data(), g1[2].data(), g1[3].data(), cp.data(), c1.data(), h1.data(), t1.data());
    t2->lstm_fwd(n, g2[0].data(), g2[1].data(), g2[2].data(), g2[3].data(), cp.data(), c2.data(), h2.data(), t2v.data());
    for (int g = 0; g < 4; ++g) REQUIRE(g1[g] == g2[g]);
    REQUIRE(c1 == c2);
    REQUIRE(h1 == h2);
    REQUIRE(t1 == t2v);
    auto dc1 = dc, dc2 = dc;
    table(Isa::Scalar).lstm_bwd(n, g1[0].data(), g1[1].data(), g1[2].data(), g1[3].data(), cp.data(), t1.data(), dh.data(), dc1.data());
    t2->lstm_bwd(n, g2[0].data(), g2[1].data(), g2[2].data(), g2[3].data(), cp.data(), t2v.data(), dh.data(), dc2.data());
    for (int g = 0; g < 4; ++g) REQUIRE(g1[g] == g2[g]);
    REQUIRE(dc1 == dc2);
  }
}

TEST_CASE("fp32 packed GEMM is bit-identical across ISAs and matches a double reference", "[kernels]") {
  Rng rng(10);
  for (GemmCase c : {GemmCase{1, 1, 1}, GemmCase{1, 17, 5}, GemmCase{2, 33, 64}, GemmCase{3, 100, 7}, GemmCase{4, 64, 200},
                     GemmCase{5, 31, 3}, GemmCase{6, 48, 512}, GemmCase{7, 70, 9}, GemmCase{11, 40, 33},
                     GemmCase{12, 96, 128}, GemmCase{13, 50, 256}, GemmCase{35, 130, 200}, GemmCase{1, 2048, 512}}) {
    std::vector<float> w(static_cast<std::size_t>(c.N * c.K)), x(static_cast<std::size_t>(c.M * (c.K + 3))),
        bias(static_cast<std::size_t>(c.N)), add(static_cast<std::size_t>(c.M * c.N));
    for (auto& v : w) v = rng.uniform(-1, 1);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : bias) v = rng.uniform(-1, 1);
    for (auto& v : add) v = rng.uniform(-1, 1);
    PackedF32 p;
    pack_f32(w.data(), c.N, c.K, p);
    for (int variant = 0; variant < 3; ++variant) {
      std::vector<float> y1(static_cast<std::size_t>(c.M * c.N), -9.0f), y2 = y1;
      GemmF32Args a;
      a.x = x.data(), a.ldx = c.K + 3, a.M = c.M, a.w = &p, a.g0 = 0, a.g1 = p.groups(), a.ldy = c.N, a.y_cols = c.N;
      if (variant >= 1) a.bias = bias.data();
      if (variant >= 2) a.addend = add.data(), a.ld_add = c.N;
      a.y = y1.data();
      table(Isa::Scalar).sgemm_packed(a);
      for (std::int64_t m = 0; m < c.M; ++m)
        for (std::int64_t n = 0; n < c.N; n += std::max<std::int64_t>(1, c.N / 7)) {
          double ref = 0;
          for (std::int64_t k = 0; k < c.K; ++k)
            ref += double(x[static_cast<std::size_t>(m * (c.K + 3) + k)]) * double(w[static_cast<std::size_t>(n * c.K + k)]);
          if (variant >= 1) ref += bias[static_cast<std::size_t>(n)];
          if (variant >= 2) ref += add[static_cast<std::size_t>(m * c.N + n)];
          REQUIRE(y1[static_cast<std::size_t>(m * c.N + n)] == Approx(ref).margin(1e-4));
        }
      for (const Table* t2 : simd_tables()) {
        a.y = y2.data();
        t2->sgemm_packed(a);
        INFO("M " << c.M << " N " << c.N << " K " << c.K << " variant " << variant);
        REQUIRE(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
      }
    }
    // a slice of row groups writes only its rows
    if (p.groups() >= 2) {
      std::vector<float> y(static_cast<std::size_t>(c.M * c.N), -9.0f);
      GemmF32Args a;
      a.x = x.data(), a.ldx = c.K + 3, a.M = c.M, a.w = &p, a.g0 = 1, a.g1 = 2, a.y = y.data(), a.ldy = c.N, a.y_cols = c.N;
      active().sgemm_packed(a);
      for (std::int64_t m = 0; m < c.M; ++m) {
        CHECK(y[static_cast<std::size_t>(m * c.N)] == -9.0f);
        if (c.N > 32) CHECK(y[static_cast<std::size_t>(m * c.N + 32)] != -9.0f);
      }
    }
  }
}

TEST_CASE("LSTM cell in the unit-blocked layout equals the cell per unit, every table", "[kernels]") {
  Rng rng(11);
  for (std::int64_t units = 1; units <= 41; ++units) {
    const std::int64_t blocks = (units + 7) / 8;
    std::vector<float> z(static_cast<std::size_t>(32 * blocks)), cp(static_cast<std::size_t>(units));
    for (auto& v : z) v = rng.uniform(-5, 5);
    for (auto& v : cp) v = rng.uniform(-2, 2);
    // the reference: lstm_fwd per unit on the gates gathered from the blocks
    std::vector<float> want_c(cp.size()), want_h(cp.size());
    for (std::int64_t j = 0; j < units; ++j) {
      float g[4];
      for (int q = 0; q < 4; ++q) g[q] = z[static_cast<std::size_t>(32 * (j / 8) + 8 * q + j % 8)];
      table(Isa::Scalar).lstm_fwd(1, &g[0], &g[1], &g[2], &g[3], &cp[static_cast<std::size_t>(j)],
                                  &want_c[static_cast<std::size_t>(j)], &want_h[static_cast<std::size_t>(j)], nullptr);
    }
    for (const Table* t : available_tables()) {
      INFO("isa " << isa_name(t->isa) << " units " << units);
      const auto z_before = z;
      std::vector<float> c(cp.size() + 1, -9.0f), h(cp.size() + 1, -9.0f);
      t->lstm_fwd_blocked(units, z.data(), cp.data(), c.data(), h.data());
      REQUIRE(std::memcmp(c.data(), want_c.data(), want_c.size() * 4) == 0);
      REQUIRE(std::memcmp(h.data(), want_h.data(), want_h.size() * 4) == 0);
      CHECK(c.back() == -9.0f);  // nothing past the last unit
      CHECK(h.back() == -9.0f);
      CHECK(z == z_before);      // z is read only
      auto c2 = cp;              // in place: c may be c_prev
      t->lstm_fwd_blocked(units, z.data(), c2.data(), c2.data(), h.data());
      REQUIRE(std::memcmp(c2.data(), want_c.data(), want_c.size() * 4) == 0);
    }
  }
}

TEST_CASE("fp32 packed GEMM reads a strided x (ldx_k) as the same matrix, and accumulates into y", "[kernels]") {
  Rng rng(12);
  for (GemmCase c : {GemmCase{1, 20, 9}, GemmCase{7, 33, 40}, GemmCase{8, 48, 64}, GemmCase{21, 70, 35}, GemmCase{40, 200, 70}}) {
    std::vector<float> w(static_cast<std::size_t>(c.N * c.K)), x(static_cast<std::size_t>(c.M * c.K)),
        xt(static_cast<std::size_t>(c.K * c.M)), y0(static_cast<std::size_t>(c.M * c.N));
    for (auto& v : w) v = rng.uniform(-1, 1);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y0) v = rng.uniform(-1, 1);
    for (std::int64_t m = 0; m < c.M; ++m)
      for (std::int64_t k = 0; k < c.K; ++k) xt[static_cast<std::size_t>(k * c.M + m)] = x[static_cast<std::size_t>(m * c.K + k)];
    PackedF32 p;  // packed in parts, as training does
    reserve_f32(p, c.N, c.K);
    pack_f32_panels(w.data(), c.K, 1, p, 0, 1);
    pack_f32_panels(w.data(), c.K, 1, p, 1, p.Np / 16);
    PackedF32 q;
    pack_f32(w.data(), c.N, c.K, q);
    REQUIRE(std::memcmp(p.data.data(), q.data.data(), p.data.size() * 4) == 0);
    for (const Table* t : available_tables()) {
      INFO("isa " << isa_name(t->isa) << " M " << c.M << " N " << c.N << " K " << c.K);
      std::vector<float> want = y0, got = y0;
      GemmF32Args a;
      a.x = x.data(), a.ldx = c.K, a.M = c.M, a.w = &p, a.g0 = 0, a.g1 = p.groups(), a.ldy = c.N, a.y_cols = c.N;
      a.y = want.data(), a.addend = want.data(), a.ld_add = c.N;  // y += x W^T
      t->sgemm_packed(a);
      a.x = xt.data(), a.ldx = 1, a.ldx_k = c.M;
      a.y = got.data(), a.addend = got.data();
      t->sgemm_packed(a);
      REQUIRE(std::memcmp(want.data(), got.data(), want.size() * 4) == 0);
      const float ref = [&] {
        float acc = 0.0f;
        for (std::int64_t k = 0; k < c.K; ++k) acc = std::fma(x[static_cast<std::size_t>(k)], w[static_cast<std::size_t>(k)], acc);
        return acc + y0[0];
      }();
      REQUIRE(want[0] == ref);  // the first output: one FMA chain over k, then the addend
    }
  }
}
