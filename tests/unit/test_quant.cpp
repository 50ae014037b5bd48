// Quantization: the weight quantizer's invariants, lm-quantize's checkpoint transformation and
// round trip, NaN/Inf activations named by layer, and model-level accuracy of int8 against fp32
// on a model trained by PyTorch (the import fixture).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/rng.hpp"
#include "data/corpus.hpp"
#include "helpers.hpp"
#include "io/checkpoint.hpp"
#include "model/convert.hpp"
#include "model/eval.hpp"
#include "model/infer.hpp"
#include "model/lstm_lm.hpp"
#include "quantize/quantize.hpp"

using namespace wordlm;

namespace {
std::string fixture(const std::string& n) { return test::source_dir() + "/tests/fixtures/" + n; }

Checkpoint tiny(bool tied) {
  ModelConfig cfg;
  cfg.vocab_size = 40, cfg.emsize = 12, cfg.nhid = tied ? 12 : 20, cfg.nlayers = 2, cfg.tied = tied;
  LstmLM<float> m(cfg);
  Rng rng(3);
  m.init_pytorch(rng);
  std::vector<std::string> vocab;
  for (int i = 0; i < 40; ++i) vocab.push_back(i == 0 ? "<eos>" : i == 1 ? "<unk>" : "w" + std::to_string(i));
  return checkpoint_from_model(m, vocab, {});
}
}  // namespace

TEST_CASE("weight quantizer never emits -128 and round-trips within half a step", "[quant]") {
  Rng rng(1);
  for (auto g : {WeightGranularity::PerRow, WeightGranularity::PerTensor}) {
    for (float scale : {1e-30f, 1e-3f, 1.0f, 1e30f}) {
      const std::int64_t N = 9, K = 37;
      std::vector<float> w(static_cast<std::size_t>(N * K));
      for (auto& v : w) v = rng.uniform(-1, 1) * scale;
      for (std::int64_t k = 0; k < K; ++k) w[static_cast<std::size_t>(3 * K + k)] = 0.0f;         // zero row
      for (std::int64_t k = 0; k < K; ++k) w[static_cast<std::size_t>(5 * K + k)] = 0.25f * scale;  // constant row
      w[7] = -scale;  // the extreme negative maps to -127, not -128
      const auto q = quantize_weight(w.data(), N, K, g, "w");
      for (std::int64_t n = 0; n < N; ++n) {
        const float s = q.scale[g == WeightGranularity::PerRow ? static_cast<std::size_t>(n) : 0];
        REQUIRE(s > 0.0f);
        for (std::int64_t k = 0; k < K; ++k) {
          const auto v = q.q[static_cast<std::size_t>(n * K + k)];
          REQUIRE(v >= -127);
          REQUIRE(v <= 127);
          REQUIRE(std::abs(double(v) * s - w[static_cast<std::size_t>(n * K + k)]) <= 0.5 * s * 1.0001);
        }
      }
      if (g == WeightGranularity::PerRow) {
        CHECK(q.scale[3] == 1.0f);  // all-zero row: scale 1, zeros
        for (std::int64_t k = 0; k < K; ++k) CHECK(q.q[static_cast<std::size_t>(3 * K + k)] == 0);
        CHECK(q.q[7] == -127);
      }
    }
  }
  // round half to even: w/scale = 2.5 -> 2, 3.5 -> 4
  std::vector<float> w{127.0f, 2.5f, 3.5f, -2.5f};
  const auto q = quantize_weight(w.data(), 1, 4, WeightGranularity::PerTensor, "w");
  CHECK(q.scale[0] == 1.0f);
  CHECK(q.q[1] == 2);
  CHECK(q.q[2] == 4);
  CHECK(q.q[3] == -2);
  std::vector<float> bad{1.0f, std::numeric_limits<float>::quiet_NaN()};
  try {
    quantize_weight(bad.data(), 1, 2, WeightGranularity::PerRow, "decoder.weight");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("decoder.weight"));
  }
}

TEST_CASE("quantize -> save -> load keeps int8 tensors and scales bit-identical", "[quant]") {
  test::TempDir d;
  for (auto g : {WeightGranularity::PerRow, WeightGranularity::PerTensor}) {
    QuantizeOptions o;
    o.granularity = g;
    const auto r = quantize_checkpoint(tiny(false), o);
    save_checkpoint(d.file("q.safetensors"), r.checkpoint);
    const Checkpoint back = load_checkpoint(d.file("q.safetensors"));
    CHECK(back.is_quantized());
    CHECK(back.quantization["weights"]["granularity"] == granularity_name(g));
    for (const auto& [name, t] : r.checkpoint.tensors) CHECK(back.tensor(name).same_bytes(t));
    CHECK(back.tensor("encoder.weight").dtype() == DType::F32);
    CHECK(back.tensor("rnn.weight_hh_l1").dtype() == DType::I8);
    CHECK(back.tensor("decoder.weight_scale").shape() == (g == WeightGranularity::PerRow ? Shape{40, 1} : Shape{1}));
    CHECK(back.tensor("rnn.bias_ih_l0").dtype() == DType::F32);
    // quantizing again is refused
    try {
      quantize_checkpoint(back, o);
      FAIL("expected an error");
    } catch (const CheckpointError& e) {
      CHECK(e.code() == CheckpointErrc::AlreadyQuantized);
    }
  }
}

TEST_CASE("quantize options: embedding, keep, tied models", "[quant]") {
  QuantizeOptions o;
  o.embedding = true;
  o.keep = {"rnn.weight_hh_l0"};
  auto r = quantize_checkpoint(tiny(false), o);
  CHECK(r.checkpoint.tensor("encoder.weight").dtype() == DType::I8);
  CHECK(r.checkpoint.tensor("encoder.weight_scale").shape() == Shape{40, 1});
  CHECK(r.checkpoint.tensor("rnn.weight_hh_l0").dtype() == DType::F32);
  CHECK(r.checkpoint.find("rnn.weight_hh_l0_scale") == nullptr);
  // 7400 weights: int8 5440 B + scales 320 x 4 B + fp32 W_hh_l0 1600 x 4 B + biases 360 x 4 B
  CHECK(r.weights == 7400);
  CHECK(r.bytes_out == 5440 + 1280 + 6400 + 1440);
  CHECK(r.bits_per_weight == Approx(8.0 * 14560 / 7400));

  QuantizeOptions bad;
  bad.keep = {"rnn.bias_ih_l0"};
  CHECK_THROWS_AS(quantize_checkpoint(tiny(false), bad), Error);

  // tied without --embedding: an int8 decoder copy beside the fp32 embedding; with: one int8 table
  auto t1 = quantize_checkpoint(tiny(true), QuantizeOptions{});
  CHECK(t1.checkpoint.tensor("encoder.weight").dtype() == DType::F32);
  CHECK(t1.checkpoint.tensor("decoder.weight").dtype() == DType::I8);
  QuantizeOptions emb;
  emb.embedding = true;
  auto t2 = quantize_checkpoint(tiny(true), emb);
  CHECK(t2.checkpoint.tensor("encoder.weight").dtype() == DType::I8);
  CHECK(t2.checkpoint.find("decoder.weight") == nullptr);
  // both load and run
  for (auto* ck : {&t1.checkpoint, &t2.checkpoint}) {
    const std::string bytes = serialize_checkpoint(*ck);
    Checkpoint back = checkpoint_from_safetensors(parse_safetensors({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}), "t");
    InferenceModel m = InferenceModel::from_checkpoint(back);
    ThreadPool pool(2);
    InferenceModel::State st;
    st.reset(back.config, 2);
    std::vector<std::int32_t> tok{1, 2, 3, 4, 5, 6};
    m.forward(tok.data(), 3, st, pool, InferenceModel::Post::LogSoftmax);
    double sum = 0;
    for (int v = 0; v < 40; ++v) sum += std::exp(double(st.output()[v]));
    CHECK(sum == Approx(1.0).epsilon(1e-4));
  }
}

TEST_CASE("the chunked NLL path equals -log_softmax at the target, int8 and fp32", "[quant]") {
  // 5 steps x batch 9 = 45 rows: two full 16-row chunks (both buffers) and a partial one
  const Checkpoint f32 = tiny(false);
  const Checkpoint i8 = quantize_checkpoint(f32, QuantizeOptions{}).checkpoint;
  Rng rng(11);
  std::vector<std::int32_t> tok(45), tgt(45);
  for (auto& t : tok) t = static_cast<std::int32_t>(rng.below(40));
  for (auto& t : tgt) t = static_cast<std::int32_t>(rng.below(40));
  for (const Checkpoint* ck : {&f32, &i8})
    for (int threads : {1, 2}) {
      InferenceModel m = InferenceModel::from_checkpoint(*ck);
      ThreadPool pool(threads);
      InferenceModel::State s1, s2;
      s1.reset(ck->config, 9), s2.reset(ck->config, 9);
      std::vector<double> nll(45, -1.0);
      m.forward(tok.data(), 5, s1, pool, InferenceModel::Post::Nll, tgt.data(), nll.data());
      m.forward(tok.data(), 5, s2, pool, InferenceModel::Post::LogSoftmax);
      INFO((ck == &i8 ? "int8" : "fp32") << ", " << threads << " thread(s)");
      for (int r = 0; r < 45; ++r) CHECK(nll[r] == Approx(-double(s2.output()[r * 40 + tgt[r]])).epsilon(1e-6));
      CHECK(s1.h.size() == s2.h.size());
      for (std::size_t i = 0; i < s1.h.size(); ++i) CHECK(s1.h.data()[i] == s2.h.data()[i]);
    }
}

TEST_CASE("a NaN or Inf activation entering an int8 matmul is an error naming the layer", "[quant]") {
  Checkpoint ck = quantize_checkpoint(tiny(false), QuantizeOptions{}).checkpoint;
  // in memory only: the file reader would refuse this embedding
  ck.tensors.at("encoder.weight").data<float>()[5 * 12 + 3] = std::numeric_limits<float>::infinity();
  InferenceModel m = InferenceModel::from_checkpoint(ck);
  ThreadPool pool(2);
  InferenceModel::State st;
  st.reset(ck.config, 1);
  std::vector<std::int32_t> ok{7}, bad{5};
  m.forward(ok.data(), 1, st, pool);
  try {
    m.forward(bad.data(), 1, st, pool);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Data);
    CHECK_THAT(e.what(), Catch::Contains("rnn.weight_ih_l0"));
  }
}

TEST_CASE("int8 stays close to fp32 on a model trained by PyTorch", "[quant]") {
  // Import fixture: a PyTorch-trained model (V300, 2x32) and its corpus. Bounds measured on this
  // model and stated here: per-row int8 log-probabilities within 0.01 of fp32 (0.02 per-tensor), top-1 agreement >= 97%,
  // perplexity within +0.5% (per-row) and +1% (per-tensor weights and activations).
  const Checkpoint fp = load_checkpoint(fixture("import_model.safetensors"));
  const Vocab vocab(fp.vocab);
  const Split test = load_split(find_split_file(fixture("import_corpus"), "test"), "test", vocab, false);
  ThreadPool pool(2);
  EvalOptions eo;
  InferenceModel base = InferenceModel::from_checkpoint(fp);
  for (auto g : {WeightGranularity::PerRow, WeightGranularity::PerTensor}) {
    QuantizeOptions qo;
    qo.granularity = g;
    const Checkpoint q = quantize_checkpoint(fp, qo).checkpoint;
    InferOptions io;
    io.act = g == WeightGranularity::PerRow ? ActGranularity::PerRow : ActGranularity::PerTensor;
    InferenceModel qm = InferenceModel::from_checkpoint(q, io);
    const CompareResult r = compare(qm, base, test.ids, eo, pool);
    const double ratio = r.other.ppl() / r.base.ppl();
    const double agree = double(r.top1_same) / double(r.tokens);
    INFO("granularity " << granularity_name(g) << ": ppl " << r.base.ppl() << " -> " << r.other.ppl() << " (x" << ratio
                        << "), top-1 agreement " << agree << ", max KLD " << summarize(r.kld).max);
    CHECK(ratio < (g == WeightGranularity::PerRow ? 1.005 : 1.01));
    CHECK(agree >= 0.97);
    // logits: one window compared directly
    InferenceModel::State sb, sq;
    sb.reset(fp.config, 1), sq.reset(fp.config, 1);
    base.forward(test.ids.data(), 35, sb, pool, InferenceModel::Post::LogSoftmax);
    std::vector<float> lb(sb.output(), sb.output() + 35 * fp.config.vocab_size);
    qm.forward(test.ids.data(), 35, sq, pool, InferenceModel::Post::LogSoftmax);
    double worst = 0;
    for (std::size_t i = 0; i < lb.size(); ++i) worst = std::max(worst, double(std::abs(lb[i] - sq.output()[i])));
    INFO("max |log p_int8 - log p_fp32| = " << worst);
    CHECK(worst < (g == WeightGranularity::PerRow ? 0.01 : 0.02));
  }
}
