// Gradient checks, two ways (architecture.md example 7): central finite differences in double
// precision on a random weighted-sum loss for every layer and for the whole model, and
// step-by-step vs whole-window agreement of the LSTM forward. Plus: the float model's gradients
// match the double model's, and 1 vs 2 threads agree.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "core/rng.hpp"
#include "core/threads.hpp"
#include "model/lstm_lm.hpp"
#include "nn/layers.hpp"

using namespace wordlm;

namespace {

std::vector<double> rnd(Rng& rng, std::size_t n, double scale = 1.0) {
  std::vector<double> v(n);
  for (auto& x : v) x = (rng.uniform_double() * 2 - 1) * scale;
  return v;
}

// Max relative error between analytic gradient g and central differences of f over params p.
// The denominator is floored at 1e-3 of the gradient's RMS so that round-off on gradients that
// are nearly zero (the difference quotient's noise is ~1e-16 * |f| / eps) does not dominate.
double fd_check(std::vector<double>& p, const std::vector<double>& g, const std::function<double()>& f,
                double eps = 1e-4) {
  REQUIRE(p.size() == g.size());
  double rms = 0;
  for (double v : g) rms += v * v;
  rms = std::sqrt(rms / static_cast<double>(g.size()));
  const double floor = std::max(1e-3 * rms, 1e-9);
  double worst = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double keep = p[i];
    p[i] = keep + eps;
    const double up = f();
    p[i] = keep - eps;
    const double dn = f();
    p[i] = keep;
    const double num = (up - dn) / (2 * eps);
    const double err = std::abs(num - g[i]) / std::max(floor, std::abs(num) + std::abs(g[i]));
    worst = std::max(worst, err);
  }
  return worst;
}

double dot(const std::vector<double>& a, const double* b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

TEST_CASE("linear layer gradients match finite differences", "[grad]") {
  Rng rng(11);
  const std::int64_t M = 3, K = 5, N = 4;
  auto x = rnd(rng, M * K), w = rnd(rng, N * K), b = rnd(rng, N), wl = rnd(rng, M * N);
  std::vector<double> out(M * N), dx(M * K), dw(N * K, 0.0), db(N, 0.0);
  auto loss = [&] {
    nn::linear_forward<double>(out.data(), x.data(), w.data(), b.data(), M, K, N, 0, N);
    return dot(wl, out.data());
  };
  loss();
  nn::linear_backward_weights<double>(dw.data(), db.data(), wl.data(), x.data(), M, K, N, 0, N);
  nn::linear_backward_input<double>(dx.data(), wl.data(), w.data(), M, K, N, 0, M);
  CHECK(fd_check(x, dx, loss) < 1e-8);
  CHECK(fd_check(w, dw, loss) < 1e-8);
  CHECK(fd_check(b, db, loss) < 1e-8);
}

TEST_CASE("embedding gradients scatter-add, including repeated ids", "[grad]") {
  Rng rng(12);
  const std::int64_t V = 6, E = 3, N = 5;
  std::vector<std::int32_t> ids{2, 0, 2, 5, 2};
  auto table = rnd(rng, V * E), wl = rnd(rng, N * E);
  std::vector<double> out(N * E), dtable(V * E, 0.0);
  auto loss = [&] {
    nn::embedding_forward<double>(out.data(), ids.data(), 0, N, table.data(), E);
    return dot(wl, out.data());
  };
  loss();
  nn::embedding_backward<double>(dtable.data(), wl.data(), ids.data(), N, E, 0, 3);  // two owners of the vocab
  nn::embedding_backward<double>(dtable.data(), wl.data(), ids.data(), N, E, 3, V);
  CHECK(fd_check(table, dtable, loss) < 1e-8);
}

TEST_CASE("softmax cross-entropy gradient matches finite differences", "[grad]") {
  Rng rng(13);
  const std::int64_t M = 4, V = 9;
  auto logits = rnd(rng, M * V, 3.0);
  std::vector<std::int32_t> tgt{0, 8, 3, 3};
  const double scale = 0.25;
  auto loss = [&] { return scale * nn::softmax_nll<double>(logits.data(), tgt.data(), V, 0, M); };
  auto g = logits;
  std::vector<double> row_max(M), row_sum(M);
  const double total = nn::softmax_xent_forward<double>(g.data(), tgt.data(), V, 0, M, row_max.data(), row_sum.data());
  nn::softmax_xent_backward<double>(g.data(), tgt.data(), V, 0, M, row_max.data(), row_sum.data(), scale);
  CHECK(total * scale == Approx(loss()).epsilon(1e-12));
  CHECK(fd_check(logits, g, loss) < 1e-8);
}

TEST_CASE("dropout masks are inverted-scaled and deterministic", "[grad]") {
  std::vector<float> m1(10000), m2(10000);
  nn::dropout_mask<float>(m1.data(), 0, 10000, 0.3f, 99);
  nn::dropout_mask<float>(m2.data(), 0, 5000, 0.3f, 99);  // two slices = one call
  nn::dropout_mask<float>(m2.data(), 5000, 10000, 0.3f, 99);
  CHECK(m1 == m2);
  int kept = 0;
  for (float v : m1) {
    REQUIRE((v == 0.0f || v == Approx(1 / 0.7f)));
    kept += v != 0.0f;
  }
  CHECK(kept / 10000.0 == Approx(0.7).margin(0.02));
}

TEST_CASE("LSTM layer gradients match finite differences", "[grad]") {
  Rng rng(14);
  const nn::LstmDims d{4, 3, 5, 6};  // steps, B, K, H
  const std::int64_t G = 4 * d.H, M = d.steps * d.B;
  auto x = rnd(rng, M * d.K), wih = rnd(rng, G * d.K, 0.5), whh = rnd(rng, G * d.H, 0.5), bih = rnd(rng, G, 0.5),
       bhh = rnd(rng, G, 0.5), h0 = rnd(rng, d.B * d.H), c0 = rnd(rng, d.B * d.H), wl = rnd(rng, M * d.H);
  ThreadPool pool(1);
  nn::LstmCache<double> cache;
  cache.reserve(d.steps, d.B, d.H);
  auto forward = [&] {
    std::copy(h0.begin(), h0.end(), cache.h.data());
    std::copy(c0.begin(), c0.end(), cache.c.data());
    pool.run([&](int tid, int nt) { nn::lstm_forward<double>(cache, x.data(), d, {wih.data(), whh.data(), bih.data(), bhh.data()}, {tid, nt, &pool}); });
    return dot(wl, cache.h.data() + d.B * d.H);
  };
  forward();
  std::vector<double> dx(M * d.K), dwih(G * d.K, 0.0), dwhh(G * d.H, 0.0), dbih(G, 0.0), dbhh(G, 0.0);
  pool.run([&](int tid, int nt) {
    nn::lstm_backward<double>(cache, x.data(), wl.data(), d, {wih.data(), whh.data(), bih.data(), bhh.data()}, dx.data(),
                              {dwih.data(), dwhh.data(), dbih.data(), dbhh.data()}, {tid, nt, &pool});
  });
  CHECK(fd_check(x, dx, forward) < 1e-7);
  CHECK(fd_check(wih, dwih, forward) < 1e-7);
  CHECK(fd_check(whh, dwhh, forward) < 1e-7);
  CHECK(fd_check(bih, dbih, forward) < 1e-7);
  CHECK(fd_check(bhh, dbhh, forward) < 1e-7);
}

TEST_CASE("LSTM forward step by step equals the whole window", "[grad]") {
  Rng rng(15);
  const nn::LstmDims d{6, 2, 3, 8};
  const std::int64_t G = 4 * d.H, M = d.steps * d.B;
  std::vector<double> x = rnd(rng, M * d.K), wih = rnd(rng, G * d.K, 0.5), whh = rnd(rng, G * d.H, 0.5),
                      bih = rnd(rng, G, 0.5), bhh = rnd(rng, G, 0.5);
  ThreadPool pool(2);
  nn::LstmCache<double> whole, one;
  whole.reserve(d.steps, d.B, d.H);
  one.reserve(1, d.B, d.H);
  std::fill(whole.h.begin(), whole.h.end(), 0.0);
  std::fill(whole.c.begin(), whole.c.end(), 0.0);
  pool.run([&](int tid, int nt) { nn::lstm_forward<double>(whole, x.data(), d, {wih.data(), whh.data(), bih.data(), bhh.data()}, {tid, nt, &pool}); });
  std::fill(one.h.begin(), one.h.end(), 0.0);
  std::fill(one.c.begin(), one.c.end(), 0.0);
  for (std::int64_t t = 0; t < d.steps; ++t) {
    pool.run([&](int tid, int nt) {
      nn::lstm_forward<double>(one, x.data() + t * d.B * d.K, {1, d.B, d.K, d.H},
                               {wih.data(), whh.data(), bih.data(), bhh.data()}, {tid, nt, &pool});
    });
    for (std::int64_t i = 0; i < d.B * d.H; ++i) {
      REQUIRE(one.h[static_cast<std::size_t>(d.B * d.H + i)] == Approx(whole.h[static_cast<std::size_t>((t + 1) * d.B * d.H + i)]).epsilon(1e-12));
      REQUIRE(one.c[static_cast<std::size_t>(d.B * d.H + i)] == Approx(whole.c[static_cast<std::size_t>((t + 1) * d.B * d.H + i)]).epsilon(1e-12));
    }
    // carry the state to the next single step
    std::copy(one.h.begin() + d.B * d.H, one.h.begin() + 2 * d.B * d.H, one.h.begin());
    std::copy(one.c.begin() + d.B * d.H, one.c.begin() + 2 * d.B * d.H, one.c.begin());
  }
}

namespace {
void model_fd(bool tied, float dropout, int threads) {
  ModelConfig cfg;
  cfg.vocab_size = 11, cfg.emsize = 6, cfg.nhid = tied ? 6 : 5, cfg.nlayers = 2, cfg.tied = tied, cfg.dropout = dropout;
  LstmLM<double> m(cfg);
  Rng rng(21);
  m.init_pytorch(rng);
  for (auto& v : m.params) v *= 3;  // larger weights: more curvature, a sharper test
  const std::int64_t steps = 4, B = 3;
  std::vector<std::int32_t> in(steps * B), tgt(steps * B);
  for (auto& v : in) v = static_cast<std::int32_t>(rng.below(11));
  for (auto& v : tgt) v = static_cast<std::int32_t>(rng.below(11));
  ThreadPool pool(threads);
  typename LstmLM<double>::Hidden h0;
  h0.reset(cfg, B);
  for (auto& v : h0.h) v = rng.uniform(-0.5f, 0.5f);
  for (auto& v : h0.c) v = rng.uniform(-0.5f, 0.5f);
  const std::uint64_t key = dropout > 0 ? 777 : 0;
  auto loss = [&] {
    auto h = h0;
    return m.forward(in.data(), tgt.data(), steps, h, key, pool);
  };
  auto h = h0;
  const double l = m.forward(in.data(), tgt.data(), steps, h, key, pool);
  m.backward(in.data(), tgt.data(), pool);
  CHECK(l == Approx(loss()).epsilon(1e-12));
  std::vector<double> p(m.params.begin(), m.params.end()), g(m.grads.begin(), m.grads.end());
  auto f = [&] {
    std::copy(p.begin(), p.end(), m.params.begin());
    return loss();
  };
  const double err = fd_check(p, g, f);
  INFO("tied " << tied << " dropout " << dropout << " threads " << threads << " worst rel err " << err);
  CHECK(err < 1e-5);  // measured ~5e-7 at eps 1e-4 (truncation ~eps^2, round-off ~1e-16/eps)
}
}  // namespace

TEST_CASE("whole-model gradients match finite differences", "[grad]") {
  model_fd(false, 0.0f, 1);
  model_fd(true, 0.0f, 1);
  model_fd(false, 0.3f, 1);
  model_fd(true, 0.3f, 2);
}

TEST_CASE("float model gradients match the double reference; threads agree", "[grad]") {
  ModelConfig cfg;
  cfg.vocab_size = 50, cfg.emsize = 16, cfg.nhid = 32, cfg.nlayers = 2, cfg.dropout = 0.2f;
  LstmLM<double> md(cfg);
  LstmLM<float> mf(cfg);
  Rng rng(5);
  md.init_pytorch(rng);
  for (std::size_t i = 0; i < md.params.size(); ++i) mf.params[i] = static_cast<float>(md.params[i]);
  for (std::size_t i = 0; i < md.params.size(); ++i) md.params[i] = mf.params[i];  // identical start
  const std::int64_t steps = 7, B = 4;
  std::vector<std::int32_t> in(steps * B), tgt(steps * B);
  for (auto& v : in) v = static_cast<std::int32_t>(rng.below(50));
  for (auto& v : tgt) v = static_cast<std::int32_t>(rng.below(50));
  ThreadPool p1(1), p2(2);
  typename LstmLM<double>::Hidden hd;
  typename LstmLM<float>::Hidden hf;
  hd.reset(cfg, B), hf.reset(cfg, B);
  const double ld = md.forward(in.data(), tgt.data(), steps, hd, 42, p1);
  md.backward(in.data(), tgt.data(), p1);
  const double lf = mf.forward(in.data(), tgt.data(), steps, hf, 42, p1);
  mf.backward(in.data(), tgt.data(), p1);
  CHECK(lf == Approx(ld).epsilon(1e-6));
  double gnorm = 0, diff = 0;
  for (std::size_t i = 0; i < md.grads.size(); ++i) {
    gnorm += md.grads[i] * md.grads[i];
    diff += (md.grads[i] - mf.grads[i]) * (md.grads[i] - mf.grads[i]);
  }
  CHECK(std::sqrt(diff / gnorm) < 1e-5);
  std::vector<float> g1(mf.grads.begin(), mf.grads.end());
  hf.reset(cfg, B);
  const double lf2 = mf.forward(in.data(), tgt.data(), steps, hf, 42, p2);
  mf.backward(in.data(), tgt.data(), p2);
  CHECK(lf2 == Approx(lf).epsilon(1e-6));
  double d12 = 0;
  for (std::size_t i = 0; i < g1.size(); ++i) d12 = std::max(d12, double(std::abs(g1[i] - mf.grads[i])));
  CHECK(d12 < 1e-6);
}
