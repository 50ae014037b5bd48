// ModelConfig: the shape of an embedding -> N-layer LSTM -> linear LM (PyTorch RNNModel, LSTM),
// and the parameter table derived from it. The table is the single list of parameters: the
// flat parameter buffer, the checkpoint names, the quantizer and the optimizer all walk it, so
// no parameter list is ever kept in order by hand in two places.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "nlohmann/json_fwd.hpp"

namespace wordlm {

struct ModelConfig {
  std::int64_t vocab_size = 0;
  std::int64_t emsize = 200;
  std::int64_t nhid = 200;
  std::int64_t nlayers = 2;
  bool tied = false;
  float dropout = 0.2f;

  std::int64_t input_size(std::int64_t layer) const noexcept { return layer == 0 ? emsize : nhid; }
  // Throws Error(kind) with a message naming the bad field.
  void validate(ErrorKind kind = ErrorKind::Usage) const;
  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);  // throws Error(Data)
  std::string describe() const;  // "V10000 E200 H200 L2 tied dropout 0.2"
};

enum class ParamRole { Embedding, WeightIH, WeightHH, BiasIH, BiasHH, DecoderWeight, DecoderBias };

struct ParamSpec {
  std::string name;  // PyTorch state-dict name
  ParamRole role;
  std::int64_t layer = -1;  // LSTM layer, -1 otherwise
  Shape shape;
  std::size_t offset = 0;  // into the flat fp32 parameter buffer
  std::size_t numel = 0;
  bool matrix() const noexcept { return shape.size() == 2; }
};

// PyTorch state-dict order: encoder.weight, rnn.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}...,
// decoder.weight (absent when tied: the decoder reads encoder.weight), decoder.bias.
std::vector<ParamSpec> param_specs(const ModelConfig& cfg);
std::size_t param_count(const ModelConfig& cfg);

// Named presets with what they are for (docs/models.md).
struct Preset {
  const char* name;
  const char* about;
  ModelConfig config;
};
const std::vector<Preset>& presets();
const Preset& preset(const std::string& name);  // throws Usage listing the known names

}  // namespace wordlm
