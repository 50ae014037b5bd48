// LstmLM forward/backward orchestration (the layer math is in nn/layers.cpp).
#include "model/lstm_lm.hpp"

#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "nn/blas.hpp"

namespace wordlm {

template <class T>
LstmLM<T>::LstmLM(const ModelConfig& cfg) : cfg_(cfg), specs_(param_specs(cfg)) {
  cfg_.validate(ErrorKind::Usage);
  blas::ensure_single_threaded();
  const auto& last = specs_.back();
  const std::size_t n = (last.offset + last.numel + 15) / 16 * 16;
  params.resize(n);
  grads.resize(n);
  masks_.resize(static_cast<std::size_t>(cfg_.nlayers + 1));
  xin_.resize(static_cast<std::size_t>(cfg_.nlayers));
  caches_.resize(static_cast<std::size_t>(cfg_.nlayers));
}

template <class T>
const ParamSpec& LstmLM<T>::spec(ParamRole role, std::int64_t layer) const {
  if (role == ParamRole::DecoderWeight && cfg_.tied) role = ParamRole::Embedding;
  for (const auto& s : specs_)
    if (s.role == role && (layer < 0 || s.layer == layer)) return s;
  throw_internal("no parameter with that role/layer");
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
  for (auto& d : dbuf_) d.resize(static_cast<std::size_t>(M * std::max(E, H)));
}

template <class T>
double LstmLM<T>::step(const std::int32_t* inputs, const std::int32_t* targets, std::int64_t steps, Hidden& hidden,
                       std::uint64_t dropout_key, bool backward, ThreadPool& pool) {
  const std::int64_t B = hidden.batch, M = steps * B;
  const std::int64_t E = cfg_.emsize, H = cfg_.nhid, V = cfg_.vocab_size, L = cfg_.nlayers;
  WORDLM_CHECK(steps >= 1 && B >= 1, "empty window");
  reserve(steps, B);
  const bool drop = dropout_key != 0 && cfg_.dropout > 0.0f;
  const float p = cfg_.dropout;
  partial_loss_.assign(static_cast<std::size_t>(pool.size()), 0.0);

  const T* enc = param(spec(ParamRole::Embedding));
  const T* dec_w = param(spec(ParamRole::DecoderWeight));
  const T* dec_b = param(spec(ParamRole::DecoderBias));
  auto site_key = [&](std::int64_t s) { return mix64(dropout_key ^ mix64(static_cast<std::uint64_t>(s) + 1)); };

  PhaseTimer* prof = profile.enabled() ? &profile : nullptr;
  if (prof) prof->start();
  pool.run([&](int tid, int nt) {
    auto mark = [&](const char* name) {
      if (prof && tid == 0) prof->mark(name);
    };
    // ---- forward ------------------------------------------------------------------------------
    if (backward) {
      auto [g0, g1] = split_range(static_cast<std::int64_t>(grads.size()), tid, nt, 16);
      std::memset(static_cast<void*>(grads.data() + g0), 0, sizeof(T) * static_cast<std::size_t>(g1 - g0));
    }
    auto [m0, m1] = split_range(M, tid, nt);
    nn::embedding_forward<T>(emb_.data(), inputs, m0, m1, enc, E);
    if (drop) {
      T* mk = masks_[0].data();
      nn::dropout_mask<T>(mk, m0 * E, m1 * E, p, site_key(0));
      nn::dropout_apply<T>(emb_.data(), emb_.data(), mk, m0 * E, m1 * E);
    }
    for (std::int64_t l = 0; l < L; ++l) {
      auto& cache = caches_[static_cast<std::size_t>(l)];
      if (tid == 0) {
        std::memcpy(cache.h.data(), hidden.h.data() + l * B * H, sizeof(T) * static_cast<std::size_t>(B * H));
        std::memcpy(cache.c.data(), hidden.c.data() + l * B * H, sizeof(T) * static_cast<std::size_t>(B * H));
      }
      pool.barrier();
      const std::int64_t K = cfg_.input_size(l);
      const T* x = l == 0 ? emb_.data() : xin_[static_cast<std::size_t>(l)].data();
      mark("embedding, dropout, copies");
      nn::lstm_forward<T>(cache, x, {steps, B, K, H}, param(spec(ParamRole::WeightIH, l)),
                          param(spec(ParamRole::WeightHH, l)), param(spec(ParamRole::BiasIH, l)),
                          param(spec(ParamRole::BiasHH, l)), tid, nt, pool, prof && tid == 0 ? prof : nullptr);
      // dropout on the layer output: into the next layer's input, or the decoder input
      const T* y = cache.h.data() + B * H;  // rows 1..steps
      T* next = l + 1 < L ? xin_[static_cast<std::size_t>(l + 1)].data() : top_.data();
      if (drop) {
        T* mk = masks_[static_cast<std::size_t>(l + 1)].data();
        nn::dropout_mask<T>(mk, m0 * H, m1 * H, p, site_key(l + 1));
        nn::dropout_apply<T>(next, y, mk, m0 * H, m1 * H);
      } else {
        std::memcpy(next + m0 * H, y + m0 * H, sizeof(T) * static_cast<std::size_t>((m1 - m0) * H));
      }
    }
    pool.barrier();
    mark("embedding, dropout, copies");
    {
      auto [v0, v1] = split_range(V, tid, nt, 16);
      nn::linear_forward<T>(logits_.data(), top_.data(), dec_w, dec_b, M, H, V, v0, v1);
    }
    pool.barrier();
    mark("decoder forward");
    // ---- loss (and its gradient) ----------------------------------------------------------------
    if (backward)
      partial_loss_[static_cast<std::size_t>(tid)] =
          nn::softmax_xent_forward_backward<T>(logits_.data(), targets, V, m0, m1, T(1) / T(M));
    else
      partial_loss_[static_cast<std::size_t>(tid)] = nn::softmax_xent_forward<T>(logits_.data(), targets, V, m0, m1);
    if (!backward) return;
    pool.barrier();
    mark("softmax+loss");
    // ---- backward -------------------------------------------------------------------------------
    {
      auto [v0, v1] = split_range(V, tid, nt, 16);
      nn::linear_backward_weights<T>(grad(spec(ParamRole::DecoderWeight)), grad(spec(ParamRole::DecoderBias)),
                                     logits_.data(), top_.data(), M, H, V, v0, v1);
    }
    pool.barrier();
    mark("decoder backward (weights)");
    T* dy = dbuf_[0].data();  // (M, H) gradient of the top layer's output
    nn::linear_backward_input<T>(dy, logits_.data(), dec_w, M, H, V, m0, m1);
    if (drop) nn::dropout_apply<T>(dy, dy, masks_[static_cast<std::size_t>(L)].data(), m0 * H, m1 * H);
    pool.barrier();
    mark("decoder backward (input)");
    for (std::int64_t l = L - 1; l >= 0; --l) {
      const std::int64_t K = cfg_.input_size(l);
      T* dx = dbuf_[(L - l) % 2].data();  // (M, K)
      const T* x = l == 0 ? emb_.data() : xin_[static_cast<std::size_t>(l)].data();
      nn::lstm_backward<T>(caches_[static_cast<std::size_t>(l)], x, dy, {steps, B, K, H},
                           param(spec(ParamRole::WeightIH, l)), param(spec(ParamRole::WeightHH, l)), dx,
                           grad(spec(ParamRole::WeightIH, l)), grad(spec(ParamRole::WeightHH, l)),
                           grad(spec(ParamRole::BiasIH, l)), grad(spec(ParamRole::BiasHH, l)), tid, nt, pool,
                           prof && tid == 0 ? prof : nullptr);
      if (drop) nn::dropout_apply<T>(dx, dx, masks_[static_cast<std::size_t>(l)].data(), m0 * K, m1 * K);
      pool.barrier();
      mark("lstm backward: dropout");
      dy = dx;
    }
    {
      auto [v0, v1] = split_range(V, tid, nt, 16);
      nn::embedding_backward<T>(grad(spec(ParamRole::Embedding)), dy, inputs, M, E, v0, v1);
    }
    pool.barrier();
    mark("embedding backward");
  });

  // carry the final hidden state (detached) to the next window
  for (std::int64_t l = 0; l < L; ++l) {
    const auto& cache = caches_[static_cast<std::size_t>(l)];
    std::memcpy(hidden.h.data() + l * B * H, cache.h.data() + steps * B * H, sizeof(T) * static_cast<std::size_t>(B * H));
    std::memcpy(hidden.c.data() + l * B * H, cache.c.data() + steps * B * H, sizeof(T) * static_cast<std::size_t>(B * H));
  }
  double total = 0;
  for (double v : partial_loss_) total += v;
  return total / static_cast<double>(M);
}

template class LstmLM<float>;
template class LstmLM<double>;

}  // namespace wordlm
