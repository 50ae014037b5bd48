// The tensor table: every tensor a model of a given config has, with its PyTorch state-dict
// name, role, layer, shape and whether it may be stored quantized. This is the single list of
// parameters and tensor names: the flat parameter buffer (offsets), the checkpoint reader and
// writer, the inference loader, the quantizer, the optimizer and the Python scripts
// (scripts/lib/wordlm_spec.py, checked against this table by a test) all take names and shapes
// from here, so no list of names is ever kept in order by hand in two places.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"
#include "spec/config.hpp"

namespace wordlm {

enum class ParamRole { Embedding, WeightIH, WeightHH, BiasIH, BiasHH, DecoderWeight, DecoderBias };
const char* role_name(ParamRole r) noexcept;  // "embedding", "weight_ih", ...

struct ParamSpec {
  std::string name;  // PyTorch state-dict name
  ParamRole role;
  std::int64_t layer = -1;  // LSTM layer, -1 otherwise
  Shape shape;
  std::size_t offset = 0;  // into the flat fp32 parameter buffer
  std::size_t numel = 0;
  bool quantizable = false;  // a weight matrix that lm-quantize may store as integers (+ scales)
  bool matrix() const noexcept { return shape.size() == 2; }
  std::int64_t rows() const noexcept { return shape[0]; }
  std::int64_t cols() const noexcept { return shape.size() == 2 ? shape[1] : 1; }
};

// PyTorch state-dict order: encoder.weight, rnn.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}...,
// decoder.weight (absent when tied: the decoder reads encoder.weight), decoder.bias.
std::vector<ParamSpec> param_specs(const ModelConfig& cfg);
std::size_t param_count(const ModelConfig& cfg);
// Length of the flat parameter buffer (every parameter starts 64-byte aligned).
std::size_t param_buffer_size(const std::vector<ParamSpec>& specs);

// The spec of (role, layer); DecoderWeight of a tied model resolves to the embedding's spec.
// Throws Internal if the table has no such tensor.
const ParamSpec& find_param(const std::vector<ParamSpec>& specs, const ModelConfig& cfg, ParamRole role,
                            std::int64_t layer = -1);
const ParamSpec* find_param(const std::vector<ParamSpec>& specs, std::string_view name) noexcept;

// A quantized tensor NAME stores its scales as NAME + "_scale".
inline constexpr std::string_view kScaleSuffix = "_scale";
std::string scale_name(std::string_view tensor);

// A tied model keeps one [V, H] matrix (encoder.weight). Quantized with an fp32 embedding, the
// decoder still runs on integers from a separately quantized copy stored under this spec (as
// PyTorch's quantize_dynamic does); it is the one tensor outside param_specs() a file may hold.
ParamSpec tied_decoder_copy(const ModelConfig& cfg);

// One line per tensor a checkpoint of this config may hold, for error messages:
// "encoder.weight, rnn.weight_ih_l0, ..., decoder.weight".
std::string quantizable_names(const ModelConfig& cfg);

}  // namespace wordlm
