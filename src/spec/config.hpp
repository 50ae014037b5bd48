// ModelConfig: the shape of an embedding -> N-layer LSTM -> linear LM (PyTorch RNNModel, LSTM).
// The tensors derived from it are in spec/tensors.hpp, the named presets in spec/presets.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
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

}  // namespace wordlm
