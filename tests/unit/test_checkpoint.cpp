// The wordlm checkpoint profile: round trip, and one test per way load_checkpoint() refuses a
// file that is valid safetensors but not a usable model.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/fileio.hpp"
#include "helpers.hpp"
#include "io/checkpoint.hpp"
#include "model/convert.hpp"
#include "model/lstm_lm.hpp"

using namespace wordlm;

namespace {

Checkpoint tiny(bool tied = false) {
  ModelConfig cfg;
  cfg.vocab_size = 7, cfg.emsize = 4, cfg.nhid = tied ? 4 : 3, cfg.nlayers = 2, cfg.tied = tied;
  LstmLM<float> m(cfg);
  Rng rng(1);
  m.init_pytorch(rng);
  return checkpoint_from_model(m, {"a", "b", "c", "d", "<eos>", "<unk>", "e"}, {{"note", "test"}});
}

// Serializes ck after `edit`, then parses the bytes; returns the rejection code.
CheckpointErrc rejection(const std::function<void(Checkpoint&, std::map<std::string, std::string>&)>& edit) {
  Checkpoint ck = tiny();
  std::map<std::string, std::string> md_override;
  edit(ck, md_override);
  // re-serialize with metadata overrides applied on top of what save_checkpoint would write
  std::string bytes = serialize_checkpoint(ck);
  auto st = parse_safetensors({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()});
  for (auto& [k, v] : md_override) {
    if (v == "<erase>") st.metadata.erase(k);
    else st.metadata[k] = v;
  }
  try {
    checkpoint_from_safetensors(std::move(st), "test");
  } catch (const CheckpointError& e) {
    CHECK(e.kind() == ErrorKind::Data);
    return e.code();
  }
  FAIL("expected the checkpoint to be rejected");
  return CheckpointErrc::NotWordlm;
}

}  // namespace

TEST_CASE("checkpoint round trip keeps config, vocabulary, provenance and tensors", "[checkpoint]") {
  test::TempDir d;
  for (bool tied : {false, true}) {
    const Checkpoint ck = tiny(tied);
    save_checkpoint(d.file("m.safetensors"), ck);
    const Checkpoint back = load_checkpoint(d.file("m.safetensors"));
    CHECK(back.config.to_json() == ck.config.to_json());
    CHECK(back.vocab == ck.vocab);
    CHECK(back.provenance["note"] == "test");
    CHECK(back.provenance.contains("git_revision"));
    CHECK(back.tensors.size() == ck.tensors.size());
    for (const auto& [n, t] : ck.tensors) CHECK(back.tensor(n).same_bytes(t));
    CHECK(back.find("decoder.weight") == (tied ? nullptr : back.find("decoder.weight")));
  }
}

TEST_CASE("reject: not a wordlm file", "[checkpoint]") {
  CHECK(rejection([](Checkpoint&, auto& md) { md["format"] = "<erase>"; }) == CheckpointErrc::NotWordlm);
  CHECK(rejection([](Checkpoint&, auto& md) { md["format"] = "gguf"; }) == CheckpointErrc::NotWordlm);
}

TEST_CASE("reject: a newer format version", "[checkpoint]") {
  CHECK(rejection([](Checkpoint&, auto& md) { md["format_version"] = "99"; }) == CheckpointErrc::NewerVersion);
  CHECK(rejection([](Checkpoint&, auto& md) { md["format_version"] = "one"; }) == CheckpointErrc::BadMetadata);
}

TEST_CASE("reject: bad config and vocabulary metadata", "[checkpoint]") {
  CHECK(rejection([](Checkpoint&, auto& md) { md["config"] = "<erase>"; }) == CheckpointErrc::BadMetadata);
  CHECK(rejection([](Checkpoint&, auto& md) { md["config"] = "{not json"; }) == CheckpointErrc::BadMetadata);
  CHECK(rejection([](Checkpoint&, auto& md) {
          md["config"] = R"({"vocab_size":7,"emsize":4,"nhid":3,"nlayers":0,"tied":false,"dropout":0.2})";
        }) == CheckpointErrc::BadMetadata);
  CHECK(rejection([](Checkpoint&, auto& md) { md["vocab"] = R"(["a","b"])"; }) == CheckpointErrc::BadMetadata);
  CHECK(rejection([](Checkpoint&, auto& md) { md["vocab"] = R"(["a","a","c","d","<eos>","<unk>","e"])"; }) ==
        CheckpointErrc::BadMetadata);
  CHECK(rejection([](Checkpoint&, auto& md) { md["vocab"] = R"({"a":1})"; }) == CheckpointErrc::BadMetadata);
  CHECK(rejection([](Checkpoint&, auto& md) { md["kind"] = "weights"; }) == CheckpointErrc::BadMetadata);
}

TEST_CASE("reject: a missing tensor", "[checkpoint]") {
  CHECK(rejection([](Checkpoint& ck, auto&) { ck.tensors.erase("rnn.weight_hh_l1"); }) == CheckpointErrc::MissingTensor);
}

TEST_CASE("reject: an extra tensor", "[checkpoint]") {
  CHECK(rejection([](Checkpoint& ck, auto&) { ck.tensors.emplace("rnn.weight_ih_l2", Tensor(DType::F32, {12, 3})); }) ==
        CheckpointErrc::UnexpectedTensor);
  CHECK(rejection([](Checkpoint& ck, auto&) { ck.extra.emplace("optim.exp_avg", Tensor(DType::F32, {3})); }) ==
        CheckpointErrc::UnexpectedTensor);  // optimizer state only in resume files
}

TEST_CASE("reject: a shape that disagrees with the config", "[checkpoint]") {
  CHECK(rejection([](Checkpoint& ck, auto&) { ck.tensors.insert_or_assign("decoder.bias", Tensor(DType::F32, {8})); }) ==
        CheckpointErrc::ShapeMismatch);
}

TEST_CASE("reject: a dtype the profile does not allow", "[checkpoint]") {
  CHECK(rejection([](Checkpoint& ck, auto&) { ck.tensors.insert_or_assign("decoder.bias", Tensor(DType::I32, {7})); }) ==
        CheckpointErrc::DtypeMismatch);
  CHECK(rejection([](Checkpoint& ck, auto&) {
          ck.tensors.insert_or_assign("rnn.bias_ih_l0", Tensor(DType::I8, {12}));
          ck.tensors.emplace("rnn.bias_ih_l0_scale", Tensor::from<float>({1}, std::vector<float>{1.0f}));
        }) == CheckpointErrc::DtypeMismatch);  // biases stay fp32
}

namespace {
void make_int8(Checkpoint& ck, const std::string& name, std::vector<float> scale, Shape scale_shape) {
  const Shape s = ck.tensor(name).shape();
  ck.tensors.insert_or_assign(name, Tensor(DType::I8, s));
  if (!scale.empty()) ck.tensors.insert_or_assign(name + "_scale", Tensor::from<float>(scale_shape, scale));
  ck.quantization = {{"scheme", "test"}};
}
}  // namespace

TEST_CASE("reject: an int8 tensor without its scale", "[checkpoint]") {
  CHECK(rejection([](Checkpoint& ck, auto&) { make_int8(ck, "decoder.weight", {}, {}); }) == CheckpointErrc::MissingScale);
}

TEST_CASE("reject: a scale of 0, negative, NaN, Inf or the wrong shape", "[checkpoint]") {
  for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
    CHECK(rejection([&](Checkpoint& ck, auto&) { make_int8(ck, "decoder.weight", std::vector<float>(7, bad), {7, 1}); }) ==
          CheckpointErrc::BadScale);
  CHECK(rejection([](Checkpoint& ck, auto&) { make_int8(ck, "decoder.weight", std::vector<float>(3, 1.0f), {3}); }) ==
        CheckpointErrc::BadScale);
}

TEST_CASE("an int8 tensor with per-row or per-tensor scales loads", "[checkpoint]") {
  for (auto [scale, shape] : {std::pair{std::vector<float>(7, 0.01f), Shape{7, 1}}, std::pair{std::vector<float>{0.01f}, Shape{1}}}) {
    Checkpoint ck = tiny();
    make_int8(ck, "decoder.weight", scale, shape);
    const std::string bytes = serialize_checkpoint(ck);
    auto back = checkpoint_from_safetensors(parse_safetensors({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}), "t");
    CHECK(back.is_quantized());
    CHECK(back.tensor("decoder.weight").dtype() == DType::I8);
  }
}

TEST_CASE("reject: int8 tensors without quantization metadata", "[checkpoint]") {
  CHECK(rejection([](Checkpoint& ck, auto& md) {
          make_int8(ck, "decoder.weight", std::vector<float>(7, 0.1f), {7, 1});
          md["quantization"] = "<erase>";
        }) == CheckpointErrc::BadMetadata);
}

TEST_CASE("reject: an int8 weight of -128", "[checkpoint]") {
  CHECK(rejection([](Checkpoint& ck, auto&) {
          make_int8(ck, "decoder.weight", std::vector<float>(7, 0.1f), {7, 1});
          ck.tensors.at("decoder.weight").data<std::int8_t>()[5] = -128;
        }) == CheckpointErrc::OutOfRange);
}

TEST_CASE("reject: NaN or Inf in a float weight, naming the tensor and element", "[checkpoint]") {
  Checkpoint ck = tiny();
  ck.tensors.at("rnn.weight_hh_l1").data<float>()[4] = std::numeric_limits<float>::quiet_NaN();
  const std::string bytes = serialize_checkpoint(ck);
  try {
    checkpoint_from_safetensors(parse_safetensors({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}), "t");
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.code() == CheckpointErrc::NonFinite);
    CHECK_THAT(e.what(), Catch::Contains("rnn.weight_hh_l1") && Catch::Contains("element 4"));
  }
  CHECK(rejection([](Checkpoint& c, auto&) { c.tensors.at("decoder.bias").data<float>()[0] = INFINITY; }) ==
        CheckpointErrc::NonFinite);
}

TEST_CASE("a tied model must not store an fp32 decoder.weight", "[checkpoint]") {
  Checkpoint ck = tiny(true);
  ck.tensors.emplace("decoder.weight", Tensor(DType::F32, {7, 4}));
  const std::string bytes = serialize_checkpoint(ck);
  try {
    checkpoint_from_safetensors(parse_safetensors({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}), "t");
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.code() == CheckpointErrc::UnexpectedTensor);
  }
}

TEST_CASE("checkpoint writes are atomic: a failed write keeps the previous file", "[checkpoint]") {
  test::TempDir d;
  const auto path = d.file("m.safetensors");
  save_checkpoint(path, tiny());
  const std::string before = read_text_file(path);
  Checkpoint bad = tiny();
  bad.tensors.emplace("__metadata__", Tensor(DType::F32, {1}));  // the writer refuses this name
  CHECK_THROWS(save_checkpoint(path, bad));
  CHECK(read_text_file(path) == before);
  CHECK(std::distance(std::filesystem::directory_iterator(d.path()), {}) == 1);  // no temp left
}
