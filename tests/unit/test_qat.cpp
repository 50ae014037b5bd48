// Quantization-aware training: the fake quantization is the quantizer's rounding, the
// straight-through backward passes the gradient taken at the fake-quantized weights, and a QAT
// run's own test perplexity is the run-time perplexity of the file lm-quantize makes of it.
#include <cstring>
#include <cmath>

#include "catch2/catch.hpp"
#include "core/half.hpp"
#include "data/corpus.hpp"
#include "data/synth.hpp"
#include "helpers.hpp"
#include "io/checkpoint.hpp"
#include "model/convert.hpp"
#include "model/eval.hpp"
#include "model/infer.hpp"
#include "model/lstm_lm.hpp"
#include "nn/layers.hpp"
#include "qscheme/scheme.hpp"
#include "quantize/quantize.hpp"
#include "train/qat.hpp"
#include "train/trainer.hpp"

using namespace wordlm;

namespace {
ModelConfig cfg16() {
  ModelConfig c;
  c.vocab_size = 30, c.emsize = 16, c.nhid = 24, c.nlayers = 2, c.dropout = 0.0f;
  return c;
}
}  // namespace

TEST_CASE("fake quantization writes exactly the weights lm-quantize's codes and scales stand for", "[qat]") {
  LstmLM<float> m(cfg16());
  Rng rng(1);
  m.init_pytorch(rng);
  for (int bits : {4, 8}) {
    QatOptions q;
    q.on = true, q.bits = bits, q.embedding = true;
    FakeQuantTransform t(m.config(), q);
    const Checkpoint qc = quantize_checkpoint(checkpoint_from_model(m, std::vector<std::string>(30, ""), {}), quantize_options(q)).checkpoint;
    for (const auto& s : param_specs(m.config())) {
      if (!t.applies(s)) continue;
      const std::int64_t N = s.shape[0], K = s.shape[1];
      std::vector<float> eff(static_cast<std::size_t>(N * K));
      t.forward(s, m.param(s), eff.data(), 0, N);
      const Tensor& codes = qc.tensor(s.name);
      std::vector<std::int8_t> c(static_cast<std::size_t>(N * K));
      std::vector<float> sc;
      std::int64_t G = K;
      if (bits == 4) {
        unpack_nibbles(codes.data<std::uint8_t>(), N, K, c.data());
        G = qc.group_size(s.name);
        const Tensor& st = qc.tensor(scale_name(s.name));
        for (std::int64_t i = 0; i < st.numel(); ++i)
          sc.push_back(f16_to_f32(reinterpret_cast<const std::uint16_t*>(st.bytes())[i]));
      } else {
        std::copy_n(codes.data<std::int8_t>(), N * K, c.begin());
        const auto sv = qc.tensor(scale_name(s.name)).values<float>();
        sc.assign(sv.begin(), sv.end());
      }
      bool same = true;
      for (std::int64_t r = 0; r < N; ++r)
        for (std::int64_t k = 0; k < K; ++k)
          same &= eff[static_cast<std::size_t>(r * K + k)] ==
                  static_cast<float>(c[static_cast<std::size_t>(r * K + k)]) * sc[static_cast<std::size_t>(r * (K / G) + k / G)];
      INFO(s.name << " bits " << bits);
      CHECK(same);
    }
  }
}

TEST_CASE("straight-through gradients: QAT's gradient is the plain model's gradient at the fake-quantized weights", "[qat]") {
  const ModelConfig cfg = cfg16();
  LstmLM<float> a(cfg), b(cfg);
  Rng rng(2);
  a.init_pytorch(rng);
  QatOptions q;
  q.on = true, q.bits = 4, q.embedding = true, q.activations = false;  // the weights' rule (activations: below)
  FakeQuantTransform t(cfg, q);
  a.set_weight_transform(&t);
  // b holds the fake-quantized weights themselves
  std::copy(a.params.begin(), a.params.end(), b.params.begin());
  for (const auto& s : param_specs(cfg))
    if (t.applies(s)) t.forward(s, a.param(s), b.param(s), 0, s.shape[0]);
  const std::int64_t steps = 6, B = 3;
  std::vector<std::int32_t> in(steps * B), tgt(steps * B);
  for (auto& v : in) v = static_cast<std::int32_t>(rng.below(30));
  for (auto& v : tgt) v = static_cast<std::int32_t>(rng.below(30));
  ThreadPool pool(2);
  LstmLM<float>::Hidden ha, hb;
  ha.reset(cfg, B), hb.reset(cfg, B);
  const double la = a.forward(in.data(), tgt.data(), steps, ha, 0, pool);
  const double lb = b.forward(in.data(), tgt.data(), steps, hb, 0, pool);
  CHECK(la == lb);
  a.backward(in.data(), tgt.data(), pool);
  b.backward(in.data(), tgt.data(), pool);
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < a.grads.size(); ++i)
    worst = std::max(worst, double(std::abs(a.grads[i] - b.grads[i]))), scale = std::max(scale, double(std::abs(b.grads[i])));
  INFO("max |g_qat - g_plain(w_eff)| = " << worst << " of " << scale);
  CHECK(worst <= 1e-6 * scale);
  CHECK(scale > 0);
}

TEST_CASE("fake-quantized activations are exactly the run-time quantizer's codes times scales", "[qat]") {
  Rng rng(5);
  for (std::int64_t K : {1, 7, 16, 200, 513}) {
    const std::int64_t M = 5, Kp = QAct::padded(K);
    std::vector<float> x(static_cast<std::size_t>(M * K));
    for (auto& v : x) v = rng.uniform(-3, 4);
    for (std::int64_t k = 0; k < K; ++k) x[static_cast<std::size_t>(K + k)] = 0.5f;  // a constant row
    for (std::int64_t k = 0; k < K; ++k) x[static_cast<std::size_t>(2 * K + k)] = 0.0f;  // an all-zero row (h0)
    QAct qa;
    qa.reserve(M, K);
    REQUIRE(quantize_act_rows(x.data(), K, K, Kp, 0, M, ActGranularity::PerRow, 0, 0, qa));
    auto fq = x;
    nn::fake_quantize_rows(fq.data(), K, K, 0, M);
    bool same = true;
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t k = 0; k < K; ++k) {
        const float want = static_cast<float>(std::int32_t{qa.q[static_cast<std::size_t>(m * Kp + k)]} - qa.zp[static_cast<std::size_t>(m)]) *
                           qa.scale[static_cast<std::size_t>(m)];
        same &= fq[static_cast<std::size_t>(m * K + k)] == want;
      }
    INFO("K " << K);
    CHECK(same);
    CHECK(fq[static_cast<std::size_t>(2 * K)] == 0.0f);
  }
}

namespace {
// Fake-quantizes the products' inputs only (no weight changes): the model stays smooth in the
// decoder's parameters, whose input does not depend on them, so finite differences apply there.
struct ActivationsOnly : WeightTransform {
  bool quantizes_activations() const override { return true; }
};
}  // namespace

TEST_CASE("straight-through activations: the decoder's gradients are those of the fake-quantized forward", "[qat]") {
  const ModelConfig cfg = cfg16();
  LstmLM<float> a(cfg), plain(cfg);
  Rng rng(6);
  a.init_pytorch(rng);
  std::copy(a.params.begin(), a.params.end(), plain.params.begin());
  ActivationsOnly t;
  a.set_weight_transform(&t);
  const std::int64_t steps = 5, B = 3;
  std::vector<std::int32_t> in(steps * B), tgt(steps * B);
  for (auto& v : in) v = static_cast<std::int32_t>(rng.below(30));
  for (auto& v : tgt) v = static_cast<std::int32_t>(rng.below(30));
  ThreadPool pool(2);
  auto loss = [&](LstmLM<float>& m) {
    LstmLM<float>::Hidden h;
    h.reset(cfg, B);
    return m.forward(in.data(), tgt.data(), steps, h, 0, pool);
  };
  const double l0 = loss(a);
  CHECK(l0 != loss(plain));  // the inputs really are quantized
  a.backward(in.data(), tgt.data(), pool);
  const std::vector<float> g(a.grads.begin(), a.grads.end());
  int checked = 0;
  const auto specs = param_specs(cfg);
  for (ParamRole role : {ParamRole::DecoderWeight, ParamRole::DecoderBias}) {
    const ParamSpec* s = nullptr;
    for (const auto& p : specs)
      if (p.role == role) s = &p;
    REQUIRE(s);
    for (int trial = 0; trial < 12; ++trial) {
      const std::size_t i = s->offset + static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(s->numel)));
      const float keep = a.params[i], eps = 1e-2f;
      a.params[i] = keep + eps;
      const double up = loss(a);
      a.params[i] = keep - eps;
      const double down = loss(a);
      a.params[i] = keep;
      const double fd = (up - down) / (2.0 * eps);
      INFO(s->name << " element " << i - s->offset << ": analytic " << g[i] << ", finite difference " << fd);
      CHECK(double(g[i]) == Approx(fd).margin(2e-4).epsilon(2e-2));
      ++checked;
    }
  }
  CHECK(checked == 24);
}

TEST_CASE("a QAT run's test perplexity is the run-time perplexity of its file quantized by lm-quantize", "[qat][train]") {
  test::TempDir d;
  SynthOptions so;
  so.vocab = 60, so.fanout = 5, so.train_tokens = 30000, so.valid_tokens = 5000, so.test_tokens = 5000, so.seed = 4;
  generate_synth(d.file("syn"), so);
  const Corpus c = load_corpus(d.file("syn"), {});
  TrainOptions o;
  o.model.emsize = 16, o.model.nhid = 24, o.model.nlayers = 2, o.model.dropout = 0.0f;
  o.batch = 10, o.bptt = 20, o.epochs = 1, o.threads = 2, o.log_interval = 1000000;
  o.save = d.file("fp.safetensors");
  train(c, o);
  for (int bits : {4, 8}) {
    TrainOptions q = o;
    q.init = d.file("fp.safetensors");
    q.save = d.file("qat.safetensors");
    q.qat.on = true, q.qat.bits = bits;
    q.lr = 1.25;
    q.max_batches = 60;
    const TrainResult r = train(c, q);
    QuantizeOptions qo;
    qo.bits = bits;
    const Checkpoint deployed = quantize_checkpoint(load_checkpoint(q.save), qo).checkpoint;
    ThreadPool pool(1);
    EvalOptions eo;
    eo.batch = o.eval_batch, eo.bptt = o.bptt;
    const EvalResult ev = evaluate(InferenceModel::from_checkpoint(deployed), c.test.ids, eo, pool);
    INFO("bits " << bits << ": QAT run says " << r.test_ppl << ", the quantized file gives " << ev.nll.ppl());
    CHECK(ev.nll.ppl() == Approx(r.test_ppl).epsilon(1e-4));  // 4 significant digits (measured: equal)
  }
}

TEST_CASE("a fine-tuning run keeps its starting model unless an epoch validates better", "[qat][train]") {
  test::TempDir d;
  SynthOptions so;
  so.vocab = 60, so.fanout = 5, so.train_tokens = 20000, so.valid_tokens = 4000, so.test_tokens = 4000, so.seed = 5;
  generate_synth(d.file("syn"), so);
  const Corpus c = load_corpus(d.file("syn"), {});
  TrainOptions o;
  o.model.emsize = 16, o.model.nhid = 24, o.model.nlayers = 2, o.model.dropout = 0.0f;
  o.batch = 10, o.bptt = 20, o.epochs = 1, o.threads = 2, o.log_interval = 1000000;
  o.max_batches = 20;  // an under-trained start: a sane rate improves it, a wild one ruins it
  o.save = d.file("start.safetensors");
  train(c, o);
  const Checkpoint start = load_checkpoint(o.save);
  for (bool qat : {false, true}) {
    TrainOptions f = o;
    f.max_batches = 0;
    f.init = o.save;
    f.save = d.file("ft.safetensors");
    f.qat.on = qat, f.qat.bits = 8;
    SECTION(std::string("a rate that ruins the model: the start stays in --save") + (qat ? " (QAT)" : "")) {
      f.lr = 1e5;
      const TrainResult r = train(c, f);
      REQUIRE(r.start_valid_ppl.has_value());
      CHECK(r.best_valid_ppl == Approx(*r.start_valid_ppl).epsilon(1e-12));
      REQUIRE(r.epochs.size() == 1);
      CHECK(r.epochs[0].valid_ppl > *r.start_valid_ppl);
      const Checkpoint saved = load_checkpoint(f.save);
      for (const auto& [name, t] : start.tensors) {
        INFO(name);
        const Tensor& u = saved.tensor(name);
        REQUIRE(u.nbytes() == t.nbytes());
        CHECK(std::memcmp(u.bytes(), t.bytes(), t.nbytes()) == 0);
      }
    }
    SECTION(std::string("a sane rate: the better epoch replaces it") + (qat ? " (QAT)" : "")) {
      f.lr = 20;
      const TrainResult r = train(c, f);
      REQUIRE(r.start_valid_ppl.has_value());
      CHECK(r.best_valid_ppl < *r.start_valid_ppl);
      const Checkpoint saved = load_checkpoint(f.save);
      const Tensor& u = saved.tensor("decoder.weight");
      const Tensor& t = start.tensor("decoder.weight");
      CHECK(std::memcmp(u.bytes(), t.bytes(), t.nbytes()) != 0);
    }
  }
}
