// WeightTransform: the seam through which the training forward may use transformed weights
// (quantization-aware training plugs in here: fake-quantized weights in the forward, a
// straight-through gradient in the backward), without a second copy of the model.
//
// The model calls, for every parameter the transform applies to:
//   forward:  w_eff = f(w)         before the window's forward (rows split across threads);
//   backward: grad = (df/dw)^T grad after the window's backward has accumulated the gradient
//             with respect to w_eff (rows split across threads).
// Rows are the first dimension of the parameter (output rows of a matrix; a vector is one row),
// so row-wise transforms (per-row and per-group scales) need no synchronization. The base class
// applies to nothing: a model without a transform reads its parameters directly, at no cost.
#pragma once

#include <cstdint>

#include "spec/tensors.hpp"

namespace wordlm {

class WeightTransform {
 public:
  virtual ~WeightTransform() = default;
  // Whether parameter s goes through the transform.
  virtual bool applies(const ParamSpec& s) const {
    (void)s;
    return false;
  }
  // w_eff rows [r0, r1) of s from w (both point at row 0 of the parameter, row length s.cols()).
  virtual void forward(const ParamSpec& s, const float* w, float* w_eff, std::int64_t r0, std::int64_t r1) const {
    (void)s, (void)w, (void)w_eff, (void)r0, (void)r1;
  }
  // grad rows [r0, r1): on entry d(loss)/d(w_eff), on return d(loss)/d(w).
  virtual void backward(const ParamSpec& s, const float* w, float* grad, std::int64_t r0, std::int64_t r1) const {
    (void)s, (void)w, (void)grad, (void)r0, (void)r1;
  }
  // Whether the inputs of the weight matrices (each LSTM layer's input and recurrent h, the
  // decoder's input) are fake-quantized too, per row exactly as the run-time integer kernels
  // quantize them (kernels::fake_quant_row_u7), with a straight-through gradient: the model then
  // computes every product from the quantized input (forward and weight gradients) and passes
  // the input's gradient on unchanged (the row's range contains every value: nothing clips).
  virtual bool quantizes_activations() const { return false; }
};

}  // namespace wordlm
