// ModelConfig validation, JSON form, parameter table and presets.
#include "model/config.hpp"

#include <cmath>

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace wordlm {

namespace {
constexpr std::int64_t kMaxVocab = 1 << 24;
constexpr std::int64_t kMaxWidth = 1 << 16;
constexpr std::int64_t kMaxLayers = 64;
}  // namespace

void ModelConfig::validate(ErrorKind kind) const {
  auto bad = [&](const std::string& what) { throw Error(kind, "model config: " + what); };
  if (vocab_size < 1 || vocab_size > kMaxVocab) bad(fmt::format("vocab size {} outside 1..{}", vocab_size, kMaxVocab));
  if (emsize < 1 || emsize > kMaxWidth) bad(fmt::format("emsize {} outside 1..{}", emsize, kMaxWidth));
  if (nhid < 1 || nhid > kMaxWidth) bad(fmt::format("nhid {} outside 1..{}", nhid, kMaxWidth));
  if (nlayers < 1 || nlayers > kMaxLayers) bad(fmt::format("nlayers {} outside 1..{}", nlayers, kMaxLayers));
  if (!(dropout >= 0.0f && dropout < 1.0f)) bad(fmt::format("dropout {} outside [0, 1)", dropout));
  if (tied && nhid != emsize)
    bad(fmt::format("tied weights need nhid == emsize (got nhid {} and emsize {})", nhid, emsize));
}

nlohmann::json ModelConfig::to_json() const {
  return {{"vocab_size", vocab_size}, {"emsize", emsize}, {"nhid", nhid}, {"nlayers", nlayers},
          {"tied", tied}, {"dropout", dropout}, {"rnn_type", "LSTM"}};
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& what) { throw Error(ErrorKind::Data, "model config: " + what); };
  if (!j.is_object()) bad("not a JSON object");
  auto get_int = [&](const char* k) -> std::int64_t {
    auto it = j.find(k);
    if (it == j.end() || !it->is_number_integer()) bad(std::string("'") + k + "' missing or not an integer");
    return it->get<std::int64_t>();
  };
  ModelConfig c;
  c.vocab_size = get_int("vocab_size");
  c.emsize = get_int("emsize");
  c.nhid = get_int("nhid");
  c.nlayers = get_int("nlayers");
  auto t = j.find("tied");
  if (t == j.end() || !t->is_boolean()) bad("'tied' missing or not a boolean");
  c.tied = t->get<bool>();
  auto d = j.find("dropout");
  if (d == j.end() || !d->is_number()) bad("'dropout' missing or not a number");
  const double dv = d->get<double>();
  if (!(dv >= 0.0 && dv < 1.0)) bad("'dropout' " + std::to_string(dv) + " outside [0, 1)");
  c.dropout = static_cast<float>(dv);
  if (auto r = j.find("rnn_type"); r != j.end() && (!r->is_string() || r->get<std::string>() != "LSTM"))
    bad("rnn_type must be \"LSTM\"");
  c.validate(ErrorKind::Data);
  return c;
}

std::string ModelConfig::describe() const {
  return fmt::format("V{} E{} H{} L{}{} dropout {:g}", vocab_size, emsize, nhid, nlayers, tied ? " tied" : "", dropout);
}

std::vector<ParamSpec> param_specs(const ModelConfig& c) {
  std::vector<ParamSpec> s;
  std::size_t off = 0;
  auto add = [&](std::string name, ParamRole role, std::int64_t layer, Shape shape) {
    ParamSpec p{std::move(name), role, layer, std::move(shape), off, 0};
    p.numel = static_cast<std::size_t>(*shape_numel(p.shape));
    off += (p.numel + 15) / 16 * 16;  // keep every parameter 64-byte aligned in the flat buffer
    s.push_back(std::move(p));
  };
  add("encoder.weight", ParamRole::Embedding, -1, {c.vocab_size, c.emsize});
  for (std::int64_t l = 0; l < c.nlayers; ++l) {
    const auto k = std::to_string(l);
    add("rnn.weight_ih_l" + k, ParamRole::WeightIH, l, {4 * c.nhid, c.input_size(l)});
    add("rnn.weight_hh_l" + k, ParamRole::WeightHH, l, {4 * c.nhid, c.nhid});
    add("rnn.bias_ih_l" + k, ParamRole::BiasIH, l, {4 * c.nhid});
    add("rnn.bias_hh_l" + k, ParamRole::BiasHH, l, {4 * c.nhid});
  }
  if (!c.tied) add("decoder.weight", ParamRole::DecoderWeight, -1, {c.vocab_size, c.nhid});
  add("decoder.bias", ParamRole::DecoderBias, -1, {c.vocab_size});
  return s;
}

std::size_t param_count(const ModelConfig& c) {
  std::size_t n = 0;
  for (const auto& p : param_specs(c)) n += p.numel;
  return n;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = {
      // The seed blog's model: random weights, the latency workload of the int8 comparison.
      {"seed", "vocab 5000, embed 256, hidden 512, 2 layers: the seed blog's model (latency workload)",
       {5000, 256, 512, 2, false, 0.0f}},
      // pytorch/examples defaults: ~2x200. PTB: ~140 test ppl after 40 epochs; Brown 10k: see docs.
      {"small", "vocab 10000, embed 200, hidden 200, 2 layers, dropout 0.2: pytorch/examples defaults",
       {10000, 200, 200, 2, false, 0.2f}},
      // Zaremba et al. "medium" (2x650, dropout 0.5): PTB ~82 test ppl with 39 epochs, hours on CPU.
      {"medium", "vocab 10000, embed 650, hidden 650, 2 layers, dropout 0.5: Zaremba medium",
       {10000, 650, 650, 2, false, 0.5f}},
  };
  return all;
}

const Preset& preset(const std::string& name) {
  std::string known;
  for (const auto& p : presets()) {
    if (name == p.name) return p;
    known += known.empty() ? "" : ", ";
    known += p.name;
  }
  throw_usage("unknown preset '" + name + "' (known: " + known + ")");
}

}  // namespace wordlm
