// The tensor table (spec/tensors.hpp).
#include "spec/tensors.hpp"

#include "core/error.hpp"

namespace wordlm {

const char* role_name(ParamRole r) noexcept {
  switch (r) {
    case ParamRole::Embedding: return "embedding";
    case ParamRole::WeightIH: return "weight_ih";
    case ParamRole::WeightHH: return "weight_hh";
    case ParamRole::BiasIH: return "bias_ih";
    case ParamRole::BiasHH: return "bias_hh";
    case ParamRole::DecoderWeight: return "decoder_weight";
    case ParamRole::DecoderBias: return "decoder_bias";
  }
  return "?";
}

std::vector<ParamSpec> param_specs(const ModelConfig& c) {
  std::vector<ParamSpec> s;
  std::size_t off = 0;
  auto add = [&](std::string name, ParamRole role, std::int64_t layer, Shape shape) {
    ParamSpec p{std::move(name), role, layer, std::move(shape), off, 0, false};
    p.numel = static_cast<std::size_t>(*shape_numel(p.shape));
    p.quantizable = role == ParamRole::Embedding || role == ParamRole::WeightIH || role == ParamRole::WeightHH ||
                    role == ParamRole::DecoderWeight;
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

std::size_t param_buffer_size(const std::vector<ParamSpec>& specs) {
  if (specs.empty()) return 0;
  const auto& last = specs.back();
  return (last.offset + last.numel + 15) / 16 * 16;
}

const ParamSpec& find_param(const std::vector<ParamSpec>& specs, const ModelConfig& cfg, ParamRole role,
                            std::int64_t layer) {
  if (role == ParamRole::DecoderWeight && cfg.tied) role = ParamRole::Embedding;
  for (const auto& s : specs)
    if (s.role == role && (layer < 0 || s.layer == layer)) return s;
  throw_internal(std::string("no parameter ") + role_name(role) + " in layer " + std::to_string(layer));
}

const ParamSpec* find_param(const std::vector<ParamSpec>& specs, std::string_view name) noexcept {
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

std::string scale_name(std::string_view tensor) { return std::string(tensor) + std::string(kScaleSuffix); }

ParamSpec tied_decoder_copy(const ModelConfig& c) {
  ParamSpec p{"decoder.weight", ParamRole::DecoderWeight, -1, {c.vocab_size, c.nhid}, 0, 0, true};
  p.numel = static_cast<std::size_t>(c.vocab_size * c.nhid);
  return p;
}

std::string quantizable_names(const ModelConfig& c) {
  std::string s;
  for (const auto& p : param_specs(c))
    if (p.quantizable) s += (s.empty() ? "" : ", ") + p.name;
  if (c.tied) s += ", decoder.weight (tied)";
  return s;
}

}  // namespace wordlm
