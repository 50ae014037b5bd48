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
// deployed file gives. The inputs of the quantized products (each LSTM layer's input and
// recurrent h, the decoder's input) are fake-quantized too, per row to the 7-bit range the
// kernels use (kernels::fake_quant_row_u7, the run-time function itself), with a straight-through
// gradient (QatOptions::activations, on by default; lm-train --qat-weights-only turns it off).
#pragma once

#include <cstdint>
#include <string>

#include "model/weight_transform.hpp"
#include "train/fields.hpp"
#include "quantize/quantize.hpp"
#include "spec/config.hpp"

namespace wordlm {

struct QatOptions {
  bool on = false;
  int bits = 4;              // 4 or 8
  std::int64_t group = 0;    // 4-bit group size (0: the quantizer's default per tensor)
  bool embedding = false;    // also fake-quantize (and quantize) the embedding
  bool activations = true;   // also fake-quantize the products' inputs, per row, 7 bits (the run-time scheme)
  template <class Self, class F>
  static void fields(Self& o, F&& f) {
    f("on", o.on);
    f("bits", o.bits);
    f("group", o.group);
    f("embedding", o.embedding);
    f("activations", o.activations, fields::Restore::IfPresent);  // absent in files written before it existed
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
  bool quantizes_activations() const override { return q_.activations; }

 private:
  std::int64_t group_of(const ParamSpec& s) const;
  ModelConfig cfg_;
  QatOptions q_;
};

}  // namespace wordlm
