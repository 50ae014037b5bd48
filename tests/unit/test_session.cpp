// The session layer: sampler, decode session and generation, sentence scoring, line input, and
// the public API on top of them.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <thread>

#include "catch2/catch.hpp"
#include "data/lines.hpp"
#include "helpers.hpp"
#include "io/checkpoint.hpp"
#include "model/convert.hpp"
#include "model/eval.hpp"
#include "model/lstm_lm.hpp"
#include "quantize/quantize.hpp"
#include "session/decode.hpp"
#include "session/generate.hpp"
#include "session/sampler.hpp"
#include "session/score.hpp"
#include "wordlm/wordlm.hpp"

using namespace wordlm;

namespace {
constexpr std::int64_t kV = 300;

// A random model with a vocabulary large enough for sampling tests; H = 20 is not a multiple of 8.
Checkpoint random_model(std::uint64_t seed = 5) {
  ModelConfig cfg;
  cfg.vocab_size = kV, cfg.emsize = 16, cfg.nhid = 20, cfg.nlayers = 2;
  LstmLM<float> m(cfg);
  Rng rng(seed);
  m.init_pytorch(rng);
  // sharper outputs than a fresh init, so the distributions are not near-uniform
  for (std::size_t i = 0; i < m.params.size(); ++i) m.params.data()[i] *= 6.0f;
  std::vector<std::string> vocab;
  for (int i = 0; i < kV; ++i) vocab.push_back(i == 0 ? "<eos>" : i == 1 ? "<unk>" : "w" + std::to_string(i));
  return checkpoint_from_model(m, vocab, {});
}

Checkpoint int8_of(const Checkpoint& ck) {
  QuantizeOptions o;
  o.embedding = true;
  return quantize_checkpoint(ck, o).checkpoint;
}

std::vector<std::vector<std::int32_t>> random_sentences(int n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<std::int32_t>> s(static_cast<std::size_t>(n));
  for (auto& x : s) {
    x.resize(rng.below(3) == 0 ? rng.below(3) : rng.below(40));  // some empty, some long
    for (auto& w : x) w = static_cast<std::int32_t>(1 + rng.below(kV - 1));
  }
  return s;
}

// The reference nucleus: sort everything, keep the prefix that reaches p.
std::set<std::int32_t> nucleus_ref(const std::vector<float>& z, double p) {
  std::vector<std::int32_t> id(z.size());
  std::iota(id.begin(), id.end(), 0);
  std::sort(id.begin(), id.end(), [&](int a, int b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
  double total = 0;
  for (float v : z) total += std::exp(double(v) - double(z[id[0]]));
  std::set<std::int32_t> keep;
  double acc = 0;
  for (int i : id) {
    keep.insert(i);
    acc += std::exp(double(z[i]) - double(z[id[0]]));
    if (acc >= p * total) break;
  }
  return keep;
}
}  // namespace

// ---------------------------------------------------------------- sampler
TEST_CASE("greedy decoding takes the argmax, the lowest id among equal maxima, and top-k 1 agrees", "[session]") {
  std::vector<float> z{0.5f, 2.0f, -1.0f, 2.0f, NAN};
  Sampler g({.greedy = true});
  CHECK(g.sample(z.data(), 5) == 1);
  Sampler k1({.top_k = 1, .seed = 3});
  for (int i = 0; i < 20; ++i) CHECK(k1.sample(z.data(), 5) == 1);
}

TEST_CASE("top-k draws only from the k most likely tokens, and keeps exactly them", "[session]") {
  Rng rng(2);
  std::vector<float> z(1000);
  for (auto& v : z) v = rng.uniform(-4, 4);
  std::vector<std::int32_t> order(1000);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return z[a] > z[b]; });
  for (std::int64_t k : {1, 7, 64, 999}) {
    Sampler s({.top_k = k, .seed = 9});
    const std::set<std::int32_t> top(order.begin(), order.begin() + k);
    for (int i = 0; i < 200; ++i) REQUIRE(top.count(s.sample(z.data(), 1000)) == 1);
    const auto c = s.last_candidates();
    CHECK(std::set<std::int32_t>(c.begin(), c.end()) == top);
  }
}

TEST_CASE("top-p keeps the smallest most-likely set reaching p, found without sorting, as a full sort does", "[session]") {
  std::vector<float> z{std::log(0.5f), std::log(0.3f), std::log(0.1f), std::log(0.1f)};
  Sampler a({.top_p = 0.7, .seed = 1});
  a.sample(z.data(), 4);
  auto c = a.last_candidates();
  CHECK(std::set<std::int32_t>(c.begin(), c.end()) == std::set<std::int32_t>{0, 1});
  Sampler b({.top_p = 0.85, .seed = 1});
  b.sample(z.data(), 4);
  c = b.last_candidates();
  CHECK(std::set<std::int32_t>(c.begin(), c.end()) == std::set<std::int32_t>{0, 1, 2});  // tie: the lower id
  Rng rng(4);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> r(5000);
    for (auto& v : r) v = rng.uniform(-6, 6);
    for (double p : {0.05, 0.5, 0.9, 0.99}) {
      for (std::int64_t k : {0, 100}) {
        Sampler s({.top_k = k, .top_p = p, .seed = 1});
        s.sample(r.data(), 5000);
        const auto got = s.last_candidates();
        std::set<std::int32_t> want;
        if (k == 0) {
          want = nucleus_ref(r, p);
        } else {  // top-k first, then the nucleus of the k
          std::vector<std::int32_t> id(5000);
          std::iota(id.begin(), id.end(), 0);
          std::sort(id.begin(), id.end(), [&](int x, int y) { return r[x] > r[y]; });
          std::vector<float> sub;
          for (int i = 0; i < k; ++i) sub.push_back(r[id[i]]);
          for (int i : nucleus_ref(sub, p)) want.insert(id[i]);
        }
        INFO("p " << p << " k " << k);
        CHECK(std::set<std::int32_t>(got.begin(), got.end()) == want);
      }
    }
  }
}

TEST_CASE("sampling follows the softmax of logits / temperature", "[session]") {
  std::vector<float> z{std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  for (double t : {1.0, 0.5}) {
    Sampler s({.temperature = t, .seed = 11});
    std::vector<int> n(3);
    const int N = 30000;
    for (int i = 0; i < N; ++i) ++n[static_cast<std::size_t>(s.sample(z.data(), 3))];
    double w[3], sum = 0;
    for (int i = 0; i < 3; ++i) sum += (w[i] = std::pow(std::exp(double(z[i])), 1 / t));
    for (int i = 0; i < 3; ++i) CHECK(double(n[i]) / N == Approx(w[i] / sum).margin(0.015));
  }
}

TEST_CASE("whole-vocabulary sampling finds tokens in every 256-token block with their probabilities", "[session]") {
  std::vector<float> z(600, -1e30f);
  z[10] = std::log(0.5f), z[300] = std::log(0.3f), z[599] = std::log(0.2f);
  Sampler s({.seed = 5});
  std::vector<int> n(600);
  const int N = 20000;
  for (int i = 0; i < N; ++i) ++n[static_cast<std::size_t>(s.sample(z.data(), 600))];
  CHECK(n[10] + n[300] + n[599] == N);
  CHECK(double(n[10]) / N == Approx(0.5).margin(0.015));
  CHECK(double(n[300]) / N == Approx(0.3).margin(0.015));
  CHECK(double(n[599]) / N == Approx(0.2).margin(0.015));
}

TEST_CASE("a seed reproduces the draws and another seed changes them", "[session]") {
  Rng rng(8);
  std::vector<float> z(kV);
  for (auto& v : z) v = rng.uniform(-1, 1);
  auto run = [&](std::uint64_t seed) {
    Sampler s({.top_p = 0.95, .seed = seed});
    std::vector<std::int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.sample(z.data(), kV));
    return out;
  };
  CHECK(run(1) == run(1));
  CHECK(run(1) != run(2));
}

TEST_CASE("sampler settings out of range are usage errors", "[session]") {
  for (SamplerOptions o : {SamplerOptions{.temperature = 0}, SamplerOptions{.temperature = -1},
                           SamplerOptions{.temperature = NAN}, SamplerOptions{.top_k = -1},
                           SamplerOptions{.top_p = 0}, SamplerOptions{.top_p = 1.5}}) {
    try {
      Sampler s(o);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
    }
  }
  std::vector<float> bad(4, NAN);
  Sampler s({.seed = 1});
  CHECK_THROWS_AS(s.sample(bad.data(), 4), Error);
}

// ---------------------------------------------------------------- decode session and generation
TEST_CASE("a prompt fed in one pass gives the same next-token distribution as fed token by token", "[session]") {
  const Checkpoint f32 = random_model();
  for (const Checkpoint& ck : {f32, int8_of(f32)}) {
    const InferenceModel m = InferenceModel::from_checkpoint(ck);
    ThreadPool pool(2);
    DecodeSession whole(m, pool), steps(m, pool);
    const std::vector<std::int32_t> prompt{0, 5, 17, 250, 3, 3, 99};
    const auto a = whole.feed(prompt);
    std::span<const float> b;
    for (std::int32_t t : prompt) b = steps.feed({&t, 1});
    double worst = 0;
    for (std::size_t v = 0; v < a.size(); ++v) worst = std::max(worst, double(std::abs(a[v] - b[v])));
    INFO(m.describe() << ": max difference " << worst);
    CHECK(worst <= (m.any_int8() ? 0.0 : 1e-5));
    CHECK(whole.position() == 7);
    // a context longer than the feed window (256 steps) runs in windows: the same distribution
    std::vector<std::int32_t> longer(600);
    for (std::size_t i = 0; i < longer.size(); ++i) longer[i] = static_cast<std::int32_t>((i * 37) % kV);
    DecodeSession w1(m, pool), w2(m, pool);
    const auto la = w1.feed(longer);
    std::span<const float> lb;
    for (std::size_t i = 0; i < longer.size(); i += 100) lb = w2.feed(std::span(longer).subspan(i, 100));
    double wl = 0;
    for (std::size_t v = 0; v < la.size(); ++v) wl = std::max(wl, double(std::abs(la[v] - lb[v])));
    CHECK(wl <= (m.any_int8() ? 0.0 : 1e-5));
    CHECK(w1.position() == 600);
    double sum = 0;
    for (float v : a) sum += std::exp(double(v));
    CHECK(sum == Approx(1.0).epsilon(1e-4));
  }
}

TEST_CASE("generation is byte-identical for a seed across runs and thread counts, fp32 and int8", "[session]") {
  const Checkpoint f32 = random_model();
  for (const Checkpoint& ck : {f32, int8_of(f32)}) {
    const InferenceModel m = InferenceModel::from_checkpoint(ck);
    auto run = [&](int threads, std::uint64_t seed) {
      ThreadPool pool(threads);
      DecodeSession s(m, pool, DecodeSession::Output::Logits);
      std::vector<std::int32_t> out;
      const std::vector<std::int32_t> ctx{0, 7, 8};
      const GenerateStats st = generate(s, ctx, 0, {.tokens = 60, .sampler = {.top_k = 50, .seed = seed}},
                                        [&](std::int32_t id) { return out.push_back(id), true; });
      CHECK(st.generated == 60);
      CHECK(st.prompt_tokens == 3);
      return out;
    };
    const auto a = run(1, 42);
    INFO(m.describe());
    CHECK(a == run(1, 42));
    CHECK(a == run(2, 42));
    CHECK(a != run(1, 43));
    CHECK(std::set<std::int32_t>(a.begin(), a.end()).size() > 5);  // it does sample
  }
}

TEST_CASE("generation stops at the first <eos> when asked, and when the caller says so", "[session]") {
  const InferenceModel m = InferenceModel::from_checkpoint(random_model());
  ThreadPool pool(1);
  DecodeSession s(m, pool, DecodeSession::Output::Logits);
  const std::int32_t eos = 0;
  std::vector<float> dummy;
  // make <eos> certain: a greedy run from a context whose argmax we look up first
  const auto lp = s.feed(std::vector<std::int32_t>{0});
  const std::int32_t top = static_cast<std::int32_t>(argmax(lp.data(), kV));
  s.reset();
  std::vector<std::int32_t> out;
  GenerateStats st = generate(s, std::vector<std::int32_t>{0}, top, {.tokens = 10, .sampler = {.greedy = true}, .stop_at_eos = true},
                              [&](std::int32_t id) { return out.push_back(id), true; });
  CHECK(out == std::vector<std::int32_t>{top});
  CHECK(st.stopped_at_eos);
  s.reset();
  int n = 0;
  st = generate(s, std::vector<std::int32_t>{eos}, eos, {.tokens = 10, .sampler = {.seed = 1}}, [&](std::int32_t) { return ++n < 3; });
  CHECK(n == 3);
  CHECK(st.stopped_by_caller);
}

// ---------------------------------------------------------------- sentence scoring
TEST_CASE("a sentence's score equals the sum of its next-token log-probabilities from an <eos> start", "[session]") {
  const InferenceModel m = InferenceModel::from_checkpoint(random_model());
  ThreadPool pool(1);
  const std::vector<std::vector<std::int32_t>> sents{{4, 9, 200}, {}, {17}};
  for (bool eos : {true, false}) {
    SentenceScorer sc(m, pool, {.eos_id = 0, .score_eos = eos, .per_token = true});
    const auto r = sc.score(sents);
    REQUIRE(r.size() == 3);
    for (std::size_t i = 0; i < sents.size(); ++i) {
      DecodeSession d(m, pool);
      std::vector<std::int32_t> in{0};
      in.insert(in.end(), sents[i].begin(), sents[i].end());
      std::vector<std::int32_t> tgt(sents[i]);
      if (eos) tgt.push_back(0);
      double want = 0;
      for (std::size_t t = 0; t < tgt.size(); ++t) want += d.feed({&in[t], 1})[static_cast<std::size_t>(tgt[t])];
      CHECK(r[i].tokens == static_cast<std::int64_t>(tgt.size()));
      CHECK(r[i].logprob == Approx(want).epsilon(1e-5));
      CHECK(r[i].token_logprobs.size() == tgt.size());
    }
  }
  // an empty line scores <eos> alone; without <eos> it scores nothing
  SentenceScorer no(m, pool, {.eos_id = 0, .score_eos = false});
  CHECK(no.score(std::vector<std::vector<std::int32_t>>{{}})[0].tokens == 0);
}

TEST_CASE("a sentence's score does not depend on its batch neighbours, batch size, window or threads", "[session]") {
  const Checkpoint f32 = random_model();
  const auto sents = random_sentences(150, 3);
  for (const Checkpoint& ck : {f32, int8_of(f32)}) {
    const InferenceModel m = InferenceModel::from_checkpoint(ck);
    ThreadPool p1(1);
    const auto ref = SentenceScorer(m, p1, {.eos_id = 0, .batch = 1, .window = 64}).score(sents);
    // alone, one at a time, in another order
    std::vector<std::vector<std::int32_t>> rev(sents.rbegin(), sents.rend());
    for (int threads : {1, 2})
      for (std::int64_t batch : {7, 64})
        for (std::int64_t window : {5, 64}) {
          ThreadPool pool(threads);
          const auto got = SentenceScorer(m, pool, {.eos_id = 0, .batch = batch, .window = window}).score(sents);
          const auto got_rev = SentenceScorer(m, pool, {.eos_id = 0, .batch = batch, .window = window}).score(rev);
          INFO(m.describe() << " threads " << threads << " batch " << batch << " window " << window);
          for (std::size_t i = 0; i < sents.size(); ++i) {
            REQUIRE(got[i].tokens == ref[i].tokens);
            const auto& back = got_rev[sents.size() - 1 - i];
            if (m.any_int8()) {
              REQUIRE(got[i].logprob == ref[i].logprob);
              REQUIRE(back.logprob == ref[i].logprob);
            } else {
              REQUIRE(got[i].logprob == Approx(ref[i].logprob).epsilon(1e-5));
              REQUIRE(back.logprob == Approx(ref[i].logprob).epsilon(1e-5));
            }
          }
        }
  }
}

TEST_CASE("running-text scoring totals what lm-eval's evaluation gives with batch size 1", "[session]") {
  const Checkpoint f32 = random_model();
  const auto sents = random_sentences(40, 6);
  for (const Checkpoint& ck : {f32, int8_of(f32)}) {
    const InferenceModel m = InferenceModel::from_checkpoint(ck);
    ThreadPool pool(2);
    std::vector<std::int32_t> ids;
    for (const auto& s : sents) ids.insert(ids.end(), s.begin(), s.end()), ids.push_back(0);
    EvalOptions eo;
    eo.batch = 1;
    const EvalResult ev = evaluate(m, ids, eo, pool);
    for (std::int64_t window : {35, 8}) {
      StreamScorer sc(m, pool, {.eos_id = 0, .window = window});
      std::vector<SentenceScore> lines;
      auto take = [&](SentenceScore&& s) { lines.push_back(std::move(s)); };
      for (const auto& s : sents) sc.add(s, take);
      sc.finish(take);
      REQUIRE(lines.size() == sents.size());
      double total = 0;
      std::int64_t tokens = 0;
      for (const auto& l : lines) total += l.logprob, tokens += l.tokens;
      CHECK(tokens == ev.tokens);
      CHECK(-total == Approx(ev.nll.sum).epsilon(1e-9));
      CHECK(lines[0].tokens == static_cast<std::int64_t>(sents[0].size()));  // its first token is context
    }
  }
}

// ---------------------------------------------------------------- line input
TEST_CASE("the line reader splits every line ending, keeps empty lines, skips a BOM and reads long lines", "[session]") {
  test::TempDir d;
  std::string big(3 << 20, 'x');
  const std::string path = d.write("t.txt", "\xEF\xBB\xBF" "a b\r\n\nc\rd\n" + big + "\r\nlast");
  LineReader in(path);
  std::vector<std::string> got;
  std::string l;
  while (in.next(l)) got.push_back(l);
  REQUIRE(got.size() == 6);
  CHECK(got[0] == "a b");
  CHECK(got[1].empty());
  CHECK(got[2] == "c");
  CHECK(got[3] == "d");
  CHECK(got[4] == big);
  CHECK(got[5] == "last");
  CHECK(in.line_number() == 6);
  CHECK_THROWS_AS(LineReader(d.file("missing.txt")), Error);
  // a \r at a block boundary followed by \n is one line end
  const std::string edge = d.write("e.txt", std::string((1 << 20) - 1, 'y') + "\r\nz\r");
  LineReader e(edge);
  got.clear();
  while (e.next(l)) got.push_back(l);
  REQUIRE(got.size() == 2);
  CHECK(got[1] == "z");
}

TEST_CASE("a line that is not valid text is reported with its column, not thrown", "[session]") {
  std::vector<std::string> w;
  auto add = [&](std::string_view s) { w.emplace_back(s); };
  CHECK(!for_each_word("  the\tcat\u00a0sat ", add));
  CHECK(w == std::vector<std::string>{"the", "cat", "sat"});
  auto bad = for_each_word(std::string_view("ab\xff", 3), add);
  REQUIRE(bad);
  CHECK(bad->column == 3);
  CHECK(bad->what.find("invalid UTF-8") != std::string::npos);
  bad = for_each_word(std::string_view("a\0b", 3), add);
  REQUIRE(bad);
  CHECK(bad->what == "NUL byte");
}

// ---------------------------------------------------------------- public API
TEST_CASE("the public API loads, scores, feeds and generates, and one model serves many threads", "[session][api]") {
  test::TempDir d;
  const std::string path = d.file("m.safetensors");
  save_checkpoint(path, int8_of(random_model()));
  const auto model = api::Model::load(path);
  CHECK(model.vocab_size() == kV);
  CHECK(model.token_id("w5") == 5);
  CHECK(model.token_id("nope") == -1);
  CHECK(model.word(model.eos_id()) == "<eos>");
  std::int64_t unk = 0;
  CHECK(model.encode("w5 nope w7", &unk) == std::vector<std::int32_t>{5, 1, 7});
  CHECK(unk == 1);
  const auto sc = model.score({"w5 w6 w7", "", "w9 nope"});
  REQUIRE(sc.size() == 3);
  CHECK(sc[0].tokens == 4);
  CHECK(sc[1].tokens == 1);
  CHECK(sc[2].oov == 1);
  CHECK(sc[0].logprob < 0);
  api::Session s(model);
  const auto lp = s.feed_text("w5 w6");
  CHECK(lp.size() == static_cast<std::size_t>(kV));
  CHECK(s.position() == 2);
  const std::string text = api::Session(model).generate(10, {.seed = 3});
  CHECK(text == api::Session(model, 2).generate(10, {.seed = 3}));
  CHECK(!text.empty());
  // concurrent sessions over one shared model give what a lone session gives
  std::vector<std::string> out(4);
  std::vector<std::thread> th;
  for (int i = 0; i < 4; ++i) th.emplace_back([&, i] { out[static_cast<std::size_t>(i)] = api::Session(model).generate(30, {.seed = 9}); });
  for (auto& t : th) t.join();
  const std::string lone = api::Session(model).generate(30, {.seed = 9});
  for (const auto& o : out) CHECK(o == lone);
  CHECK_THROWS_AS(api::Model::load(d.file("missing.safetensors")), Error);
  CHECK_THROWS_AS(model.encode(std::string_view("a\xff", 2)), Error);
  CHECK_THROWS_AS(api::Sampler({.temperature = 0}), Error);
}
