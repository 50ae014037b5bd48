// Quantization-aware training: a WeightTransform whose forward replaces each quantized weight
// matrix by its fake-quantized value (exactly the codes and scales lm-quantize would write:
// 4-bit per row and group, or int8 per row) and whose backward is the straight-through
// estimator. With max-scaled symmetric rounding every weight lies inside the clipping range
// [-qmax * s, qmax * s] of its own row/group, so the straight-through gradient passes unchanged
// (the "zero outside the clipping range" rule never fires; it is kept in backward() for a scheme
// that clips).
//
// Validation and the final test of a QAT run evaluate the real quantized model (the checkpoint
// quantized by the quantizer, run by the InferenceModel), so the run's perplexity is the one the
// deployed file gives. Activations are not fake-quantized in the training forward: the run-time
// activation scheme is 7 bits per row, whose error is an order of magnitude below 4-bit weights'
// (docs/quantization.md); the evaluation includes it.
#pragma once

#include <cstdint>
#include <string>

#include "model/weight_transform.hpp"
#include "quantize/quantize.hpp"
#include "spec/config.hpp"

namespace wordlm {

struct QatOptions {
  bool on = false;
  int bits = 4;              // 4 or 8
  std::int64_t group = 0;    // 4-bit group size (0: the quantizer's default per tensor)
  bool embedding = false;    // also fake-quantize (and quantize) the embedding
  template <class Self, class F>
  static void fields(Self& o, F&& f) {
    f("on", o.on);
    f("bits", o.bits);
    f("group", o.group);
    f("embedding", o.embedding);
  }
};

// The quantizer settings a QAT run trains for (and lm-quantize must be given to match).
QuantizeOptions quantize_options(const QatOptions& q);

class FakeQuantTransform : public WeightTransform {
 public:
  FakeQuantTransform(const ModelConfig& cfg, const QatOptions& q);  // throws Usage for bad bits/groups
  bool applies(const ParamSpec& s) const override;
  void forward(const ParamSpec& s, const float* w, float* w_eff, std::int64_t r0, std::int64_t r1) const override;
  void backward(const ParamSpec& s, const float* w, float* grad, std::int64_t r0, std::int64_t r1) const override;

 private:
  std::int64_t group_of(const ParamSpec& s) const;
  ModelConfig cfg_;
  QatOptions q_;
};

}  // namespace wordlm
