// Offline quantization of a checkpoint (what lm-quantize does): every LSTM weight matrix and the
// decoder weight to int8 with per-row (default) or per-tensor symmetric scales, or to 4 bits in
// groups along K (bits = 4, per tensor with bits_for), the embedding too on request, biases fp32;
// a tensor named in `keep` stays fp32. The result is a valid checkpoint (I8 NAME or U8 packed
// NAME, F32 NAME_scale, the scheme as JSON metadata) that InferenceModel loads directly.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "nlohmann/json.hpp"
#include "qscheme/scheme.hpp"

namespace wordlm {

struct QuantizeOptions {
  WeightGranularity granularity = WeightGranularity::PerRow;  // int8 weights
  bool embedding = false;         // also quantize encoder.weight (per row)
  std::vector<std::string> keep;  // tensors left in fp32
  int bits = 8;                   // 8 or 4 for every quantized tensor...
  std::map<std::string, int> bits_for;  // ...except these (NAME -> 8 or 4)
  std::int64_t group = 0;         // 4-bit group size along K (0: default_group4(K) per tensor)
};

struct TensorQuantReport {
  std::string name;
  Shape shape;
  std::string dtype_in, dtype_out;
  std::uint64_t bytes_in = 0, bytes_out = 0;  // including the scale tensor
  double max_abs_err = 0, rel_rms_err = 0;
  bool quantized = false;
};

struct QuantizeResult {
  Checkpoint checkpoint;
  std::vector<TensorQuantReport> tensors;
  std::uint64_t bytes_in = 0, bytes_out = 0;  // tensor bytes
  std::int64_t weights = 0;                   // parameters
  double bits_per_weight = 0;                 // bytes_out * 8 / weights
  nlohmann::json to_json() const;
};

// True when `name` is a weight matrix of cfg that may be quantized (or kept in fp32).
bool is_quantizable_name(const ModelConfig& cfg, const std::string& name);

// A size budget (lm-quantize --max-size): each weight matrix at fp32, int8 or 4 bits, the
// combination with the least summed error whose predicted file fits. The error of a choice comes
// from `measure` (the tensor at those bits, every other weight fp32: lm-quantize --data gives the
// mean KL divergence from the fp32 model on a calibration slice of a corpus) or, without it, the
// tensor's relative RMS weight error (0 for fp32). All 3^n combinations are tried (n is 5 or 6 for
// a 2-layer model), so the choice is optimal for that measure and deterministic (ties: the
// smaller file, then the earlier combination). A tied model's one table (embedding and decoder)
// is one choice: fp32 for both, or one int8 / 4-bit table serving both.
struct SizeChoice {
  std::string name;
  int bits = 32;  // 32 (fp32), 8 or 4
  double error = 0;
  std::uint64_t bytes = 0;
};
struct SizePlan {
  std::vector<SizeChoice> choices;
  std::uint64_t predicted_bytes = 0;  // the whole file
  double error = 0;                   // summed
  QuantizeOptions options;            // what quantize_checkpoint is then given
};
// The error of quantizing one weight matrix `name` to `bits` (8 or 4) with every other weight fp32.
using SizeErrorMeasure = std::function<double(const std::string& name, int bits)>;
// Options that quantize `name` alone to `bits` (every other weight fp32), with base's granularity
// and group size: what a measure evaluates.
QuantizeOptions single_tensor_options(const ModelConfig& cfg, const QuantizeOptions& base, const std::string& name, int bits);
// base: granularity and group size to use. Throws Usage if even the smallest choice exceeds
// max_bytes (the message says how small it can get).
SizePlan plan_for_size(const Checkpoint& in, const QuantizeOptions& base, std::uint64_t max_bytes,
                       const SizeErrorMeasure& measure = {});

// Throws CheckpointError(AlreadyQuantized) for an int8 input, Usage for a bad `keep` name.
QuantizeResult quantize_checkpoint(const Checkpoint& in, const QuantizeOptions& opt);

}  // namespace wordlm
