// LstmLM forward/backward orchestration (the layer math is in nn/layers.cpp). forward() and
// backward() sit side by side; each phase of one is mirrored by a phase of the other.
#include "model/lstm_lm.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/error.hpp"
#include "nn/blas.hpp"

namespace wordlm {

template <class T>
LstmLM<T>::LstmLM(const ModelConfig& cfg) : cfg_(cfg), specs_(param_specs(cfg)) {
  cfg_.validate(ErrorKind::Usage);
  blas::ensure_single_threaded();
  const std::size_t n = param_buffer_size(specs_);
  params.resize(n);
  grads.resize(n);
  masks_.resize(static_cast<std::size_t>(cfg_.nlayers + 1));
  xin_.resize(static_cast<std::size_t>(cfg_.nlayers));
  caches_.resize(static_cast<std::size_t>(cfg_.nlayers));
}

template <class T>
const ParamSpec& LstmLM<T>::spec(ParamRole role, std::int64_t layer) const {
  return find_param(specs_, cfg_, role, layer);
}

template <class T>
void LstmLM<T>::init_pytorch(Rng& rng) {
  params.zero();
  const float k = 1.0f / std::sqrt(static_cast<float>(cfg_.nhid));
  for (const auto& s : specs_) {
    T* p = param(s);
    float lo = -0.1f, hi = 0.1f;
    if (s.role == ParamRole::DecoderBias) continue;  // zeros
    if (s.layer >= 0) lo = -k, hi = k;
    for (std::size_t i = 0; i < s.numel; ++i) p[i] = static_cast<T>(rng.uniform(lo, hi));
  }
}

template <class T>
void LstmLM<T>::Hidden::reset(const ModelConfig& cfg, std::int64_t B) {
  batch = B;
  h.resize(static_cast<std::size_t>(cfg.nlayers * B * cfg.nhid));
  c.resize(static_cast<std::size_t>(cfg.nlayers * B * cfg.nhid));
  h.zero();
  c.zero();
}

template <class T>
void LstmLM<T>::reserve(std::int64_t steps, std::int64_t B) {
  if (steps <= cap_steps_ && B == cap_batch_) return;
  cap_steps_ = std::max(steps, B == cap_batch_ ? cap_steps_ : 0);
  cap_batch_ = B;
  const std::int64_t M = cap_steps_ * B, E = cfg_.emsize, H = cfg_.nhid, V = cfg_.vocab_size;
  emb_.resize(static_cast<std::size_t>(M * E));
  for (std::int64_t s = 0; s <= cfg_.nlayers; ++s)
    masks_[static_cast<std::size_t>(s)].resize(static_cast<std::size_t>(M * (s == 0 ? E : H)));
  for (std::int64_t l = 0; l < cfg_.nlayers; ++l) {
    if (l > 0) xin_[static_cast<std::size_t>(l)].resize(static_cast<std::size_t>(M * H));
    caches_[static_cast<std::size_t>(l)].reserve(cap_steps_, B, H);
  }
  top_.resize(static_cast<std::size_t>(M * H));
  logits_.resize(static_cast<std::size_t>(M * V));
  row_max_.resize(static_cast<std::size_t>(M));
  row_sum_.resize(static_cast<std::size_t>(M));
  for (auto& d : dbuf_) d.resize(static_cast<std::size_t>(M * std::max(E, H)));
}

template <class T>
bool LstmLM<T>::transformed(const ParamSpec& s) const noexcept {
  if constexpr (std::is_same_v<T, float>) return transform_ && transform_->applies(s);
  return false;
}

template <class T>
const T* LstmLM<T>::weights(const ParamSpec& s) const noexcept {
  return transformed(s) ? eff_.data() + s.offset : param(s);
}

template <class T>
nn::LstmParams<T> LstmLM<T>::layer_params(std::int64_t l) const {
  return {weights(spec(ParamRole::WeightIH, l)), weights(spec(ParamRole::WeightHH, l)),
          weights(spec(ParamRole::BiasIH, l)), weights(spec(ParamRole::BiasHH, l))};
}

template <class T>
nn::LstmGrads<T> LstmLM<T>::layer_grads(std::int64_t l) {
  return {grad(spec(ParamRole::WeightIH, l)), grad(spec(ParamRole::WeightHH, l)), grad(spec(ParamRole::BiasIH, l)),
          grad(spec(ParamRole::BiasHH, l))};
}

template <class T>
std::uint64_t LstmLM<T>::site_key(std::int64_t site) const noexcept {
  return mix64(dropout_key_ ^ mix64(static_cast<std::uint64_t>(site) + 1));
}

template <class T>
void LstmLM<T>::make_mask(T* mask, std::int64_t m0, std::int64_t m1, std::int64_t width, std::int64_t site) const {
  const float p = cfg_.dropout;
  if (slice_batch_ == 0) {
    nn::dropout_mask<T>(mask, m0 * width, m1 * width, p, site_key(site));
    return;
  }
  // local row m = step * batch_ + j is row step * slice_batch_ + slice_col0_ + j of the whole batch
  for (std::int64_t m = m0; m < m1; ++m) {
    const std::int64_t whole = (m / batch_) * slice_batch_ + slice_col0_ + m % batch_;
    nn::dropout_mask<T>(mask, m * width, (m + 1) * width, p, site_key(site),
                        static_cast<std::uint64_t>((whole - m) * width));
  }
}

template <class T>
void LstmLM<T>::mark(const Team& team, const char* phase) {
  if (prof_ && team.leader()) prof_->mark(phase);
}

// ---- forward ----------------------------------------------------------------------------------
template <class T>
void LstmLM<T>::transform_weights(const Team& team) {
  if constexpr (std::is_same_v<T, float>) {
    if (!transform_) return;
    bool any = false;
    for (const auto& s : specs_)
      if (transform_->applies(s)) {
        auto [r0, r1] = team.share(s.rows());
        transform_->forward(s, param(s), eff_.data() + s.offset, r0, r1);
        any = true;
      }
    if (any) team.barrier();
  }
}

// embedding -> dropout -> LSTM layers (dropout between) -> dropout, into top_
template <class T>
void LstmLM<T>::forward_layers(const std::int32_t* inputs, Hidden& hidden, const Team& team) {
  const std::int64_t B = batch_, M = steps_ * B, E = cfg_.emsize, H = cfg_.nhid, L = cfg_.nlayers;
  auto [m0, m1] = team.share(M);
  nn::embedding_forward<T>(emb_.data(), inputs, m0, m1, weights(spec(ParamRole::Embedding)), E);
  if (drop_) {
    T* mk = masks_[0].data();
    make_mask(mk, m0, m1, E, 0);
    nn::dropout_apply<T>(emb_.data(), emb_.data(), mk, m0 * E, m1 * E);
  }
  if constexpr (std::is_same_v<T, float>)
    if (fq_act_) nn::fake_quantize_rows(emb_.data(), E, E, m0, m1);  // what W_ih of layer 0 sees at run time
  for (std::int64_t l = 0; l < L; ++l) {
    auto& cache = caches_[static_cast<std::size_t>(l)];
    if (team.leader()) {
      std::memcpy(cache.h.data(), hidden.h.data() + l * B * H, sizeof(T) * static_cast<std::size_t>(B * H));
      std::memcpy(cache.c.data(), hidden.c.data() + l * B * H, sizeof(T) * static_cast<std::size_t>(B * H));
    }
    team.barrier();
    const T* x = l == 0 ? emb_.data() : xin_[static_cast<std::size_t>(l)].data();
    mark(team, "embedding, dropout, copies");
    nn::lstm_forward<T>(cache, x, {steps_, B, cfg_.input_size(l), H, fq_act_}, layer_params(l), team,
                        team.leader() ? prof_ : nullptr);
    // dropout on the layer output: into the next layer's input, or the decoder input
    const T* y = cache.h.data() + B * H;  // rows 1..steps
    T* next = l + 1 < L ? xin_[static_cast<std::size_t>(l + 1)].data() : top_.data();
    if (drop_) {
      T* mk = masks_[static_cast<std::size_t>(l + 1)].data();
      make_mask(mk, m0, m1, H, l + 1);
      nn::dropout_apply<T>(next, y, mk, m0 * H, m1 * H);
    } else {
      std::memcpy(next + m0 * H, y + m0 * H, sizeof(T) * static_cast<std::size_t>((m1 - m0) * H));
    }
    if constexpr (std::is_same_v<T, float>)
      if (fq_act_) nn::fake_quantize_rows(next, H, H, m0, m1);  // the next product's input, as at run time
  }
  team.barrier();
  mark(team, "embedding, dropout, copies");
}

template <class T>
double LstmLM<T>::forward(const std::int32_t* inputs, const std::int32_t* targets, std::int64_t steps, Hidden& hidden,
                          std::uint64_t dropout_key, ThreadPool& pool) {
  const std::int64_t B = hidden.batch, M = steps * B, H = cfg_.nhid, V = cfg_.vocab_size;
  WORDLM_CHECK(steps >= 1 && B >= 1, "empty window");
  WORDLM_CHECK(slice_batch_ == 0 || (slice_col0_ >= 0 && slice_col0_ + B <= slice_batch_), "columns outside the batch");
  reserve(steps, B);
  if (transform_ && eff_.size() != params.size()) eff_.resize(params.size());
  steps_ = steps, batch_ = B, dropout_key_ = dropout_key;
  drop_ = dropout_key != 0 && cfg_.dropout > 0.0f;
  prof_ = profile.enabled() ? &profile : nullptr;
  partial_loss_.assign(static_cast<std::size_t>(pool.size()), 0.0);
  if (prof_) prof_->start();
  packed_ = std::is_same_v<T, float> && nn::packed_linear();
  fq_act_ = std::is_same_v<T, float> && transform_ && transform_->quantizes_activations();
  if (packed_ && !decoder_prepacked_) kernels::reserve_f32(dec_w_, V, H);
  pool.run([&](int tid, int nt) {
    const Team team{tid, nt, &pool};
    transform_weights(team);
    forward_layers(inputs, hidden, team);
    const T* w_dec = weights(spec(ParamRole::DecoderWeight));
    if constexpr (std::is_same_v<T, float>) {
      if (packed_) {
        if (!decoder_prepacked_) pack_panels(w_dec, H, 1, dec_w_, team);
        mark(team, "decoder forward: pack weights");
        auto [g0, g1] = team.share(dec_w_.groups());
        nn::linear_forward_packed(logits_.data(), top_.data(), dec_w_, weights(spec(ParamRole::DecoderBias)), M, V, g0, g1);
      }
    }
    if (!packed_) {
      auto [v0, v1] = team.share(V, 16);
      nn::linear_forward<T>(logits_.data(), top_.data(), w_dec, weights(spec(ParamRole::DecoderBias)), M, H, V, v0, v1);
    }
    team.barrier();
    mark(team, "decoder forward");
    auto [m0, m1] = team.share(M);
    partial_loss_[static_cast<std::size_t>(tid)] =
        nn::softmax_xent_forward<T>(logits_.data(), targets, V, m0, m1, row_max_.data(), row_sum_.data());
    mark(team, "softmax+loss");
  });
  // carry the final hidden state (detached) to the next window
  for (std::int64_t l = 0; l < cfg_.nlayers; ++l) {
    const auto& cache = caches_[static_cast<std::size_t>(l)];
    std::memcpy(hidden.h.data() + l * B * H, cache.h.data() + steps * B * H, sizeof(T) * static_cast<std::size_t>(B * H));
    std::memcpy(hidden.c.data() + l * B * H, cache.c.data() + steps * B * H, sizeof(T) * static_cast<std::size_t>(B * H));
  }
  double total = 0;
  for (double v : partial_loss_) total += v;
  return total / static_cast<double>(M);
}

// ---- backward ---------------------------------------------------------------------------------
// the LSTM layers in reverse, dropout, down to the embedding's gradient
template <class T>
void LstmLM<T>::backward_layers(const std::int32_t* inputs, const Team& team) {
  const std::int64_t B = batch_, M = steps_ * B, E = cfg_.emsize, H = cfg_.nhid, L = cfg_.nlayers, V = cfg_.vocab_size;
  auto [m0, m1] = team.share(M);
  T* dy = dbuf_[0].data();  // (M, H) gradient of the top layer's output
  if constexpr (std::is_same_v<T, float>)
    if (packed_) nn::linear_backward_input_packed(dy, logits_.data(), dec_wt_, H, V, m0, m1);
  if (!packed_) nn::linear_backward_input<T>(dy, logits_.data(), weights(spec(ParamRole::DecoderWeight)), M, H, V, m0, m1);
  if (drop_) nn::dropout_apply<T>(dy, dy, masks_[static_cast<std::size_t>(L)].data(), m0 * H, m1 * H);
  team.barrier();
  mark(team, "decoder backward (input)");
  for (std::int64_t l = L - 1; l >= 0; --l) {
    const std::int64_t K = cfg_.input_size(l);
    T* dx = dbuf_[(L - l) % 2].data();  // (M, K)
    const T* x = l == 0 ? emb_.data() : xin_[static_cast<std::size_t>(l)].data();
    nn::lstm_backward<T>(caches_[static_cast<std::size_t>(l)], x, dy, {steps_, B, K, H, fq_act_}, layer_params(l), dx,
                         layer_grads(l), team, team.leader() ? prof_ : nullptr);
    if (drop_) nn::dropout_apply<T>(dx, dx, masks_[static_cast<std::size_t>(l)].data(), m0 * K, m1 * K);
    team.barrier();
    mark(team, "lstm backward: dropout");
    dy = dx;
  }
  auto [v0, v1] = team.share(V, 16);
  nn::embedding_backward<T>(grad(spec(ParamRole::Embedding)), dy, inputs, M, E, v0, v1);
  team.barrier();
  mark(team, "embedding backward");
}

template <class T>
void LstmLM<T>::transform_gradients(const Team& team) {
  if constexpr (std::is_same_v<T, float>) {
    if (!transform_) return;
    for (const auto& s : specs_)
      if (transform_->applies(s)) {
        auto [r0, r1] = team.share(s.rows());
        transform_->backward(s, param(s), grad(s), r0, r1);
      }
  }
}

template <class T>
void LstmLM<T>::backward(const std::int32_t* inputs, const std::int32_t* targets, ThreadPool& pool) {
  const std::int64_t M = steps_ * batch_, H = cfg_.nhid, V = cfg_.vocab_size;
  WORDLM_CHECK(M > 0, "backward without a forward");
  const T grad_scale = T(1) / T(steps_ * (slice_batch_ ? slice_batch_ : batch_));  // 1 / (tokens of the whole batch)
  if (prof_) prof_->start();
  if (packed_ && !decoder_prepacked_) kernels::reserve_f32(dec_wt_, H, V);
  if (packed_) kernels::reserve_f32(top_t_, H, M);
  pool.run([&](int tid, int nt) {
    const Team team{tid, nt, &pool};
    if (!grads_arrive_zeroed_) {
      auto [g0, g1] = team.share(static_cast<std::int64_t>(grads.size()), 16);
      std::memset(static_cast<void*>(grads.data() + g0), 0, sizeof(T) * static_cast<std::size_t>(g1 - g0));
    }
    if (packed_) {
      if (!decoder_prepacked_) pack_panels(weights(spec(ParamRole::DecoderWeight)), 1, H, dec_wt_, team);
      pack_panels(top_.data(), 1, H, top_t_, team);
    }
    if (prof_) {  // a barrier only when profiling, so the phase is the slower thread's (the next barrier covers it otherwise)
      team.barrier();
      mark(team, "zero gradients, pack for backward");
    }
    auto [m0, m1] = team.share(M);
    nn::softmax_xent_backward<T>(logits_.data(), targets, V, m0, m1, row_max_.data(), row_sum_.data(), grad_scale);
    team.barrier();
    mark(team, "softmax+loss");
    auto [v0, v1] = team.share(V, 16);
    T* dw_dec = grad(spec(ParamRole::DecoderWeight));
    T* db_dec = grad(spec(ParamRole::DecoderBias));
    if constexpr (std::is_same_v<T, float>)
      if (packed_) nn::linear_backward_weights_packed(dw_dec, db_dec, logits_.data(), top_t_, M, H, V, v0, v1);
    if (!packed_) nn::linear_backward_weights<T>(dw_dec, db_dec, logits_.data(), top_.data(), M, H, V, v0, v1);
    team.barrier();
    mark(team, "decoder backward (weights)");
    backward_layers(inputs, team);
    transform_gradients(team);
  });
}

template <class T>
bool LstmLM<T>::prepackable_decoder() const noexcept {
  return std::is_same_v<T, float> && nn::packed_linear() && !transformed(spec(ParamRole::DecoderWeight));
}

template <class T>
std::vector<AlignedBuffer<float>*> LstmLM<T>::decoder_pack_buffers() {
  kernels::reserve_f32(dec_w_, cfg_.vocab_size, cfg_.nhid);
  kernels::reserve_f32(dec_wt_, cfg_.nhid, cfg_.vocab_size);
  return {&dec_w_.data, &dec_wt_.data};
}

template <class T>
void LstmLM<T>::pack_decoder(std::int64_t part, std::int64_t parts, ThreadPool& pool) {
  const T* w = weights(spec(ParamRole::DecoderWeight));
  const std::int64_t H = cfg_.nhid;
  pool.run([&](int tid, int nt) {
    const Team team{tid, nt, &pool};
    pack_panels(w, H, 1, dec_w_, team, part, parts);   // as forward() packs it
    pack_panels(w, 1, H, dec_wt_, team, part, parts);  // as backward() packs it
  });
}

// Panels of `out` (reserved by the caller): part `part` of `parts` of them (all by default), split
// across the team; ends with a barrier.
template <class T>
void LstmLM<T>::pack_panels(const T* w, std::int64_t row_stride, std::int64_t col_stride, kernels::PackedF32& out,
                            const Team& team, std::int64_t part, std::int64_t parts) {
  if constexpr (std::is_same_v<T, float>) {
    auto [q0, q1] = split_range(out.Np / 16, static_cast<int>(part), static_cast<int>(parts));
    auto [p0, p1] = team.share(q1 - q0);
    kernels::pack_f32_panels(w, row_stride, col_stride, out, q0 + p0, q0 + p1);
  }
  team.barrier();
}

template class LstmLM<float>;
template class LstmLM<double>;

}  // namespace wordlm
