// 4-bit weights: F16 scales, the grouped rounding, the checkpoint profile (U8 packed pairs + F16
// scales + group size in the metadata) and every way the reader refuses it, the quantizer's mixed
// precision, and the 4-bit model against the fp32 model it came from.
#include <cmath>
#include <cstring>
#include <functional>

#include "catch2/catch.hpp"
#include "core/half.hpp"
#include "core/rng.hpp"
#include "helpers.hpp"
#include "io/checkpoint.hpp"
#include "model/convert.hpp"
#include "model/infer.hpp"
#include "model/lstm_lm.hpp"
#include "quantize/quantize.hpp"

using namespace wordlm;

namespace {

// A model of cfg with PyTorch's random initialization; words <eos>, <unk>, w2, w3, ...
Checkpoint random_model(const ModelConfig& cfg, std::uint64_t seed) {
  LstmLM<float> m(cfg);
  Rng rng(seed);
  m.init_pytorch(rng);
  std::vector<std::string> vocab;
  for (int i = 0; i < cfg.vocab_size; ++i) vocab.push_back(i == 0 ? "<eos>" : i == 1 ? "<unk>" : "w" + std::to_string(i));
  return checkpoint_from_model(m, vocab, {});
}

// E = 16, H = 24: 4-bit groups of 16 and 24 (the defaults), and 8
Checkpoint model(std::uint64_t seed = 3) {
  ModelConfig cfg;
  cfg.vocab_size = 40, cfg.emsize = 16, cfg.nhid = 24, cfg.nlayers = 2;
  return random_model(cfg, seed);
}

Checkpoint q4(std::int64_t group = 0, bool embedding = true) {
  QuantizeOptions o;
  o.bits = 4, o.group = group, o.embedding = embedding;
  return quantize_checkpoint(model(), o).checkpoint;
}

Checkpoint reparse(const Checkpoint& ck, const std::map<std::string, std::string>& md = {}) {
  const std::string bytes = serialize_checkpoint(ck);
  auto st = parse_safetensors({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()});
  for (const auto& [k, v] : md) st.metadata[k] = v;
  return checkpoint_from_safetensors(std::move(st), "test");
}

CheckpointErrc rejection(const std::function<void(Checkpoint&)>& edit) {
  Checkpoint ck = q4();
  edit(ck);
  try {
    reparse(ck);
  } catch (const CheckpointError& e) {
    CHECK(e.kind() == ErrorKind::Data);
    return e.code();
  }
  FAIL("expected the checkpoint to be rejected");
  return CheckpointErrc::NotWordlm;
}

std::vector<float> logprobs(const Checkpoint& ck, const std::vector<std::int32_t>& tok) {
  const InferenceModel m = InferenceModel::from_checkpoint(ck);
  ThreadPool pool(2);
  InferenceModel::State st;
  st.reset(ck.config, 1);
  m.forward(tok.data(), static_cast<std::int64_t>(tok.size()), st, pool, InferenceModel::Post::LogSoftmax);
  return {st.output(), st.output() + tok.size() * 40};
}

}  // namespace

TEST_CASE("F16 conversion rounds to nearest even, keeps subnormals exact and overflows to Inf", "[quant4]") {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.9604645e-08f, 0.333251953125f})
    CHECK(round_to_f16(v) == v);
  CHECK(f32_to_f16(1.0f + 1.0f / 2048) == f32_to_f16(1.0f));                // tie: to even (down)
  CHECK(f32_to_f16(1.0f + 3.0f / 2048) == f32_to_f16(1.0f + 4.0f / 2048));  // tie: to even (up)
  CHECK(std::isinf(round_to_f16(65520.0f)));
  CHECK(round_to_f16(65519.0f) == 65504.0f);
  CHECK(std::isnan(round_to_f16(NAN)));
  Rng rng(1);
  for (int i = 0; i < 10000; ++i) {  // every half is a float: the round trip is the identity
    const auto h = static_cast<std::uint16_t>(rng.below(0x7C00));
    REQUIRE(f32_to_f16(f16_to_f32(h)) == h);
  }
}

TEST_CASE("4-bit rounding stays in [-7, 7] and within half a step of every weight, per group", "[quant4]") {
  Rng rng(2);
  const std::int64_t N = 5, K = 48, G = 16;
  std::vector<float> w(static_cast<std::size_t>(N * K));
  for (auto& v : w) v = rng.uniform(-1, 1);
  for (std::int64_t k = 0; k < G; ++k) w[static_cast<std::size_t>(2 * K + k)] = 0.0f;  // an all-zero group
  const auto q = quantize_weight4(w.data(), N, K, G, "w");
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) {
      const float s = q.scale[static_cast<std::size_t>(n * (K / G) + k / G)];
      REQUIRE(round_to_f16(s) == s);
      const int c = q.q[static_cast<std::size_t>(n * K + k)];
      REQUIRE(c >= -7);
      REQUIRE(c <= 7);
      REQUIRE(std::abs(w[static_cast<std::size_t>(n * K + k)] - c * s) <= 0.5f * s * 1.002f + 1e-7f);
    }
  CHECK(q.scale[static_cast<std::size_t>(2 * (K / G))] == 1.0f);
  std::vector<std::uint8_t> packed = pack_nibbles(q.q.data(), N, K);
  std::vector<std::int8_t> back(q.q.size());
  unpack_nibbles(packed.data(), N, K, back.data());
  CHECK(back == q.q);
  CHECK_THROWS_AS(quantize_weight4(w.data(), N, K, 20, "w"), Error);  // not a multiple of 8
  CHECK_THROWS_AS(quantize_weight4(w.data(), N, K, 32, "w"), Error);  // does not divide 48
}

TEST_CASE("a 4-bit checkpoint round-trips, loads, and runs close to the fp32 model", "[quant4]") {
  const Checkpoint base = model();
  const Checkpoint ck = reparse(q4());
  CHECK(ck.tensor("rnn.weight_hh_l0").dtype() == DType::U8);
  CHECK(ck.tensor("rnn.weight_hh_l0").shape() == Shape{96, 12});
  CHECK(ck.tensor("rnn.weight_hh_l0_scale").dtype() == DType::F16);
  CHECK(ck.tensor("rnn.weight_hh_l0_scale").shape() == Shape{96, 1});  // default group 24 for K = 24
  CHECK(ck.group_size("encoder.weight") == 16);
  CHECK(ck.tensor("encoder.weight").dtype() == DType::U8);
  const std::vector<std::int32_t> tok{0, 5, 9, 33, 2, 2, 17, 0};
  const auto a = logprobs(base, tok), b = logprobs(ck, tok);
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  INFO("max |log p_4bit - log p_fp32| = " << worst);
  CHECK(worst < 0.05);
  CHECK(worst > 0);
  CHECK(InferenceModel::from_checkpoint(ck).describe() == "4-bit + 4-bit embedding");
  // smaller groups: smaller weight error, tensor by tensor
  QuantizeOptions o8, od;
  o8.bits = od.bits = 4, o8.group = 8, o8.embedding = od.embedding = true;
  const auto r8 = quantize_checkpoint(base, o8), rd = quantize_checkpoint(base, od);
  for (std::size_t i = 0; i < r8.tensors.size(); ++i)
    if (r8.tensors[i].quantized) CHECK(r8.tensors[i].rel_rms_err < rd.tensors[i].rel_rms_err);
}

TEST_CASE("mixed precision: --bits-for and --keep per tensor, and bad names or groups are usage errors", "[quant4]") {
  QuantizeOptions o;
  o.bits = 4;
  o.bits_for["decoder.weight"] = 8;
  o.keep = {"rnn.weight_ih_l1"};
  const Checkpoint ck = reparse(quantize_checkpoint(model(), o).checkpoint);
  CHECK(ck.tensor("decoder.weight").dtype() == DType::I8);
  CHECK(ck.tensor("rnn.weight_ih_l1").dtype() == DType::F32);
  CHECK(ck.tensor("rnn.weight_ih_l0").dtype() == DType::U8);
  CHECK(ck.tensor("encoder.weight").dtype() == DType::F32);
  CHECK(InferenceModel::from_checkpoint(ck).describe() == "4-bit/int8 (3+1/5 matmuls) (embedding fp32)");
  using Edit = std::function<void(QuantizeOptions&)>;
  for (const Edit& bad : {Edit([](QuantizeOptions& q) { q.bits = 5; }),
                          Edit([](QuantizeOptions& q) { q.bits = 4, q.group = 12; }),  // not a multiple of 8
                          Edit([](QuantizeOptions& q) { q.bits = 4, q.group = 32; }),  // does not divide 24
                          Edit([](QuantizeOptions& q) { q.bits_for["nonesuch"] = 4; }),
                          Edit([](QuantizeOptions& q) { q.bits_for["decoder.weight"] = 2; })}) {
    QuantizeOptions q;
    bad(q);
    try {
      quantize_checkpoint(model(), q);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
    }
  }
}

TEST_CASE("reject 4-bit: wrong packed length, group size missing or not dividing, scales missing or bad", "[quant4][checkpoint]") {
  auto group = [](Checkpoint& ck, nlohmann::json g) { ck.quantization["int4_tensors"]["rnn.weight_hh_l0"]["group_size"] = g; };
  CHECK(rejection([](Checkpoint& ck) { ck.tensors["rnn.weight_hh_l0"] = Tensor(DType::U8, {96, 13}); }) ==
        CheckpointErrc::BadPacking);
  CHECK(rejection([](Checkpoint& ck) { ck.tensors["rnn.weight_hh_l0"] = Tensor(DType::U8, {96, 24}); }) ==
        CheckpointErrc::BadPacking);
  CHECK(rejection([&](Checkpoint& ck) { group(ck, 16); }) == CheckpointErrc::BadGroup);   // does not divide 24
  CHECK(rejection([&](Checkpoint& ck) { group(ck, 12); }) == CheckpointErrc::BadGroup);   // not a multiple of 8
  CHECK(rejection([&](Checkpoint& ck) { group(ck, 0); }) == CheckpointErrc::BadGroup);
  CHECK(rejection([&](Checkpoint& ck) { group(ck, "24"); }) == CheckpointErrc::BadGroup);
  CHECK(rejection([](Checkpoint& ck) { ck.quantization["int4_tensors"].erase("rnn.weight_hh_l0"); }) ==
        CheckpointErrc::BadGroup);
  CHECK(rejection([](Checkpoint& ck) { ck.tensors.erase("rnn.weight_hh_l0_scale"); }) == CheckpointErrc::MissingScale);
  CHECK(rejection([](Checkpoint& ck) { ck.tensors["rnn.weight_hh_l0_scale"] = Tensor(DType::F32, {96, 1}); }) ==
        CheckpointErrc::BadScale);
  CHECK(rejection([](Checkpoint& ck) { ck.tensors["rnn.weight_hh_l0_scale"] = Tensor(DType::F16, {96, 2}); }) ==
        CheckpointErrc::BadScale);
  for (std::uint16_t bad : {std::uint16_t{0x7E00}, std::uint16_t{0x7C00}, std::uint16_t{0}, std::uint16_t{0xBC00}})
    CHECK(rejection([bad](Checkpoint& ck) {
            reinterpret_cast<std::uint16_t*>(ck.tensors["rnn.weight_hh_l0_scale"].bytes())[7] = bad;
          }) == CheckpointErrc::BadScale);
  // without the metadata a 4-bit tensor has no group size (or, first, quantized tensors no metadata)
  const CheckpointErrc no_metadata = rejection([](Checkpoint& ck) { ck.quantization = nullptr; });
  CHECK((no_metadata == CheckpointErrc::BadGroup || no_metadata == CheckpointErrc::BadMetadata));
}

TEST_CASE("an independent Python reader opens a 4-bit checkpoint", "[quant4][checkpoint]") {
  test::TempDir d;
  save_checkpoint(d.file("q4.safetensors"), q4());
  std::string out;
  REQUIRE(test::run_command("python3 " + test::source_dir() + "/tests/read_safetensors.py " + d.file("q4.safetensors"), &out) == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["tensors"]["rnn.weight_hh_l0"]["dtype"] == "U8");
  CHECK(j["tensors"]["rnn.weight_hh_l0_scale"]["dtype"] == "F16");
  CHECK(j["tensors"]["rnn.weight_hh_l0_scale"]["sum"].get<double>() > 0);
  CHECK(nlohmann::json::parse(j["metadata"]["quantization"].get<std::string>())["int4_tensors"]["encoder.weight"]["group_size"] == 16);
}

TEST_CASE("a size budget picks the least-error mix that fits, deterministically, and says when none fits", "[quant4]") {
  const Checkpoint base = model();
  const std::uint64_t fp32 = serialize_checkpoint(base).size();
  double last_err = 1e9;
  for (double frac : {0.35, 0.5, 0.7, 1.5}) {
    const auto budget = static_cast<std::uint64_t>(frac * double(fp32));
    const SizePlan p = plan_for_size(base, {}, budget);
    const SizePlan again = plan_for_size(base, {}, budget);
    CHECK(p.options.bits_for == again.options.bits_for);
    CHECK(p.options.keep == again.options.keep);
    CHECK(p.predicted_bytes <= budget);
    const std::uint64_t actual = serialize_checkpoint(quantize_checkpoint(base, p.options).checkpoint).size();
    INFO("budget " << budget << " predicted " << p.predicted_bytes << " actual " << actual);
    CHECK(actual <= budget);
    CHECK(p.error <= last_err);  // a larger budget never costs accuracy
    last_err = p.error;
  }
  CHECK(last_err == 0.0);  // the fp32 budget keeps everything fp32
  try {
    plan_for_size(base, {}, fp32 / 20);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(std::string(e.what()).find("smallest") != std::string::npos);
  }
}

TEST_CASE("a size budget refuses a model too deep to search rather than run for hours", "[quant4]") {
  ModelConfig cfg;
  cfg.vocab_size = 40, cfg.emsize = 8, cfg.nhid = 8, cfg.nlayers = 8;  // 18 matrices: 3^18 choices
  const Checkpoint deep = random_model(cfg, 5);
  try {
    plan_for_size(deep, {}, serialize_checkpoint(deep).size() / 2);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK_THAT(e.what(), Catch::Contains("this model has 18"));
  }
}

TEST_CASE("a size budget handles a tied model's one table and takes a measured error when given", "[quant4]") {
  ModelConfig cfg;
  cfg.vocab_size = 40, cfg.emsize = 24, cfg.nhid = 24, cfg.nlayers = 2, cfg.tied = true;
  const Checkpoint tied = random_model(cfg, 9);
  const std::uint64_t fp32 = serialize_checkpoint(tied).size();
  for (double frac : {0.4, 0.6, 1.5}) {
    const auto budget = static_cast<std::uint64_t>(frac * double(fp32));
    const SizePlan p = plan_for_size(tied, {}, budget);
    const std::uint64_t actual = serialize_checkpoint(quantize_checkpoint(tied, p.options).checkpoint).size();
    INFO("budget " << budget << " predicted " << p.predicted_bytes << " actual " << actual);
    CHECK(actual <= budget);
    CHECK(p.choices.size() == 5);  // the table (embedding + decoder) and four LSTM matrices
  }
  // a measure decides: make the table expensive at 4 bits and free at 8, the LSTM the opposite
  const SizeErrorMeasure measure = [](const std::string& name, int bits) {
    return name == "encoder.weight" ? (bits == 4 ? 1.0 : 0.0) : (bits == 4 ? 0.0 : 0.5);
  };
  const SizePlan p = plan_for_size(tied, {}, static_cast<std::uint64_t>(0.6 * double(fp32)), measure);
  for (const auto& c : p.choices) {
    INFO(c.name << " at " << c.bits);
    if (c.name == "encoder.weight") CHECK(c.bits == 8);
    else CHECK(c.bits == 4);
  }
  // what a measure evaluates: that tensor alone
  const QuantizeOptions one = single_tensor_options(cfg, {}, "rnn.weight_hh_l1", 4);
  const QuantizeResult r = quantize_checkpoint(tied, one);
  for (const auto& t : r.tensors) CHECK(t.quantized == (t.name == "rnn.weight_hh_l1"));
}

