// LstmLM<T>: the trainable word LSTM language model (PyTorch word_language_model RNNModel with
// LSTM): embedding -> dropout -> N-layer LSTM (dropout between layers) -> dropout -> linear
// decoder -> log-softmax, with a hand-written backward pass over one BPTT window.
//
// Parameters live in one flat buffer laid out by param_specs() (so clipping and the optimizer
// are single loops); gradients mirror it. forward() and backward() each run as one parallel
// region: every phase splits rows, columns or hidden units across the pool's threads and the
// phases meet at barriers, so nothing allocates and no thread pool is created per batch.
// backward() walks the layers of forward() in reverse and needs the activations forward() kept.
//
// An optional WeightTransform (model/weight_transform.hpp) replaces the weights the forward and
// the input gradients use by transformed ones (quantization-aware training).
//
// T = float is the production model; T = double is the reference for gradient checks.
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned.hpp"
#include "core/phase_timer.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"
#include "model/weight_transform.hpp"
#include "nn/layers.hpp"
#include "spec/tensors.hpp"

namespace wordlm {

template <class T>
class LstmLM {
 public:
  explicit LstmLM(const ModelConfig& cfg);

  const ModelConfig& config() const noexcept { return cfg_; }
  const std::vector<ParamSpec>& specs() const noexcept { return specs_; }
  const ParamSpec& spec(ParamRole role, std::int64_t layer = -1) const;  // decoder weight: tied -> encoder's
  T* param(const ParamSpec& s) noexcept { return params.data() + s.offset; }
  const T* param(const ParamSpec& s) const noexcept { return params.data() + s.offset; }
  T* grad(const ParamSpec& s) noexcept { return grads.data() + s.offset; }

  // pytorch/examples initialisation: encoder and decoder U(-0.1, 0.1), decoder bias 0,
  // every LSTM weight and bias U(-1/sqrt(H), 1/sqrt(H)); drawn in param_specs() order.
  void init_pytorch(Rng& rng);

  struct Hidden {
    AlignedBuffer<T> h, c;  // (L, B, H) each
    std::int64_t batch = 0;
    void reset(const ModelConfig& cfg, std::int64_t B);  // zeros
  };

  // One window: inputs/targets (steps, B) row-major (step-major like pytorch/examples' batches).
  // Returns the mean NLL over steps*B tokens and keeps what backward() needs. dropout_key == 0
  // disables dropout (evaluation); otherwise masks come from counter_uniform(dropout_key ^ site).
  // hidden is read and replaced by the final state.
  double forward(const std::int32_t* inputs, const std::int32_t* targets, std::int64_t steps, Hidden& hidden,
                 std::uint64_t dropout_key, ThreadPool& pool);
  // Overwrites grads with the gradient of the last forward()'s mean NLL; the same inputs and
  // targets must be passed. Afterwards logits() holds d(loss)/d(logits).
  void backward(const std::int32_t* inputs, const std::int32_t* targets, ThreadPool& pool);

  // Data-parallel training: this model runs columns [col0, col0 + hidden.batch) of a batch of
  // `batch` columns split across processes. Dropout masks are then the whole batch's (a column
  // gets the same mask whichever process runs it), and backward() computes this slice's share of
  // the gradient of the whole batch's mean NLL (its NLL sum / (steps * batch)), so the processes'
  // gradients add up to the whole batch's. batch 0 (the default): the model runs the whole batch.
  void set_column_slice(std::int64_t col0, std::int64_t batch) noexcept { slice_col0_ = col0, slice_batch_ = batch; }

  // backward() begins by zeroing grads. A caller that hands it zeroed grads every time may turn
  // that off (train/shared_update.hpp zeroes what it has read, while the lines are in cache).
  void set_grads_arrive_zeroed(bool yes) noexcept { grads_arrive_zeroed_ = yes; }

  // The decoder's weight packed for the packed kernels, in the (V, H) layout of the forward and
  // the (H, V) one of the input gradient: forward() and backward() pack both from the parameters
  // every window. Data-parallel processes that share the parameters pack them once per step
  // instead, each a part of the panels (train/shared_update.hpp): prepackable_decoder() says
  // whether this model uses them (float, packed kernels, no weight transform on the decoder);
  // decoder_pack_buffers() sizes them and returns their storage (to move into shared memory);
  // pack_decoder() packs part `part` of `parts` of both from the parameters; after
  // set_decoder_prepacked(true), forward() and backward() use them as they are.
  bool prepackable_decoder() const noexcept;
  std::vector<AlignedBuffer<float>*> decoder_pack_buffers();
  void pack_decoder(std::int64_t part, std::int64_t parts, ThreadPool& pool);
  void set_decoder_prepacked(bool yes) noexcept { decoder_prepacked_ = yes; }

  // The logits (steps*B, V) of the last forward().
  const T* logits() const noexcept { return logits_.data(); }

  // Weights the forward uses through `t` (nullptr: the parameters themselves). Not owned.
  void set_weight_transform(const WeightTransform* t) noexcept { transform_ = t; }

  PhaseTimer profile;  // enable() to time the phases of forward/backward (thread 0, at barriers)

  AlignedBuffer<T> params;  // flat, layout by param_specs()
  AlignedBuffer<T> grads;   // same layout

 private:
  void reserve(std::int64_t steps, std::int64_t B);
  // the weights of s as the forward sees them (transformed, or the parameters)
  const T* weights(const ParamSpec& s) const noexcept;
  bool transformed(const ParamSpec& s) const noexcept;
  nn::LstmParams<T> layer_params(std::int64_t l) const;
  nn::LstmGrads<T> layer_grads(std::int64_t l);
  std::uint64_t site_key(std::int64_t site) const noexcept;
  // dropout multipliers of rows [m0, m1) (width each) for dropout site `site`, at the element
  // indices of the whole batch (set_column_slice)
  void make_mask(T* mask, std::int64_t m0, std::int64_t m1, std::int64_t width, std::int64_t site) const;
  // phases of forward() and backward(), called by every member of the team
  void transform_weights(const Team& team);
  void forward_layers(const std::int32_t* inputs, Hidden& hidden, const Team& team);
  void backward_layers(const std::int32_t* inputs, const Team& team);
  void transform_gradients(const Team& team);
  void mark(const Team& team, const char* phase);
  void pack_panels(const T* w, std::int64_t row_stride, std::int64_t col_stride, kernels::PackedF32& out, const Team& team,
                   std::int64_t part = 0, std::int64_t parts = 1);

  ModelConfig cfg_;
  std::vector<ParamSpec> specs_;
  const WeightTransform* transform_ = nullptr;
  AlignedBuffer<T> eff_;  // transformed weights (same layout as params), when a transform applies
  // the window in flight (set by forward, read by its phases and by backward)
  std::int64_t steps_ = 0, batch_ = 0;
  std::int64_t slice_col0_ = 0, slice_batch_ = 0;  // set_column_slice (0: the whole batch)
  bool grads_arrive_zeroed_ = false;                // set_grads_arrive_zeroed
  bool decoder_prepacked_ = false;                  // set_decoder_prepacked
  std::uint64_t dropout_key_ = 0;
  bool drop_ = false;
  bool fq_act_ = false;  // the transform fake-quantizes the products' inputs too (QAT)
  PhaseTimer* prof_ = nullptr;
  // workspace, sized for the largest window seen; M = steps * B rows
  std::int64_t cap_steps_ = 0, cap_batch_ = 0;
  AlignedBuffer<T> emb_;                   // (M, E) embedding output after dropout
  std::vector<AlignedBuffer<T>> masks_;    // site s: (M, width) dropout multipliers
  std::vector<AlignedBuffer<T>> xin_;      // layer l >= 1 input: dropout(output of l-1), (M, H)
  std::vector<nn::LstmCache<T>> caches_;   // per layer
  AlignedBuffer<T> top_;                   // (M, H) dropout(output of the last layer)
  AlignedBuffer<T> logits_;                // (M, V) logits; d(loss)/d(logits) after backward
  AlignedBuffer<T> row_max_, row_sum_;     // (M) softmax statistics kept for backward
  AlignedBuffer<T> dbuf_[2];               // (M, max(E, H)) gradients flowing down
  // float on AVX-512: the decoder's products on the packed kernels (nn::packed_linear), operands
  // packed once per window
  bool packed_ = false;
  kernels::PackedF32 dec_w_;               // decoder weight (V, H)
  kernels::PackedF32 dec_wt_;              // its transpose (H, V), for the input gradient
  kernels::PackedF32 top_t_;               // decoder input transposed (H, M), for the weight gradient
  std::vector<double> partial_loss_;       // per thread
};

extern template class LstmLM<float>;
extern template class LstmLM<double>;

}  // namespace wordlm
