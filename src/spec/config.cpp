// ModelConfig validation and JSON form.
#include "spec/config.hpp"

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

}  // namespace wordlm
