// The wordlm checkpoint profile on top of safetensors (docs/checkpoint.md): PyTorch RNNModel
// tensor names, config + vocabulary + provenance in metadata, int8 weights as I8 with NAME_scale
// beside them. load_checkpoint() validates the container and then the profile (every tensor the
// config needs, nothing else, shapes, dtypes, scales, finite values), so code that receives a
// Checkpoint may trust its shapes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "io/safetensors.hpp"
#include "spec/tensors.hpp"
#include "nlohmann/json.hpp"

namespace wordlm {

inline constexpr int kFormatVersion = 1;

struct Checkpoint {
  std::string kind = "model";  // "model" or "resume" (model + optimizer + counters)
  ModelConfig config;
  std::vector<std::string> vocab;
  std::map<std::string, Tensor> tensors;  // model tensors, and NAME_scale for I8 ones
  std::map<std::string, Tensor> extra;    // resume files only: optim.*, state.*
  nlohmann::json provenance = nlohmann::json::object();
  nlohmann::json quantization;            // null for fp32 files, the scheme for int8 files
  nlohmann::json training_state;          // resume files only

  bool is_quantized() const { return !quantization.is_null(); }
  // The group size of a 4-bit (U8) tensor, from the quantization metadata the reader checked.
  std::int64_t group_size(const std::string& name) const;
  const Tensor& tensor(const std::string& name) const;  // throws Internal if absent
  const Tensor* find(const std::string& name) const;
  std::uint64_t tensor_bytes() const;  // sum of model tensor bytes
};

Checkpoint load_checkpoint(const std::string& path);
// Profile validation of an already parsed container (the fuzz target's entry point too).
Checkpoint checkpoint_from_safetensors(Safetensors st, const std::string& label);
void save_checkpoint(const std::string& path, const Checkpoint& ck);
std::string serialize_checkpoint(const Checkpoint& ck);

}  // namespace wordlm
