// InferenceModel: weight loading/permutation and the layer-major forward pass.
#include "model/infer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "fmt/format.h"
#include "kernels/mathfn.hpp"
#include "model/lstm_lm.hpp"
#include "nn/blas.hpp"
#include "nn/layers.hpp"

namespace wordlm {

// ---------------------------------------------------------------- InferLinear
InferLinear InferLinear::from_f32(const float* w, std::int64_t N, std::int64_t K, const std::vector<std::int64_t>* src_row) {
  InferLinear l;
  l.int8_ = false;
  l.stored_rows_ = N;
  l.rows_ = src_row ? static_cast<std::int64_t>(src_row->size()) : N;
  l.K_ = K;
  kernels::pack_f32(w, N, K, l.wf_, src_row);
  return l;
}

InferLinear InferLinear::from_i8(const std::int8_t* q, const float* scale, bool per_tensor, std::int64_t N,
                                 std::int64_t K, const std::vector<std::int64_t>* src_row) {
  InferLinear l;
  l.int8_ = true;
  l.stored_rows_ = N;
  l.per_tensor_ = per_tensor;
  l.rows_ = src_row ? static_cast<std::int64_t>(src_row->size()) : N;
  l.K_ = K;
  kernels::pack_i8(q, scale, per_tensor, N, K, l.packed_, src_row);
  return l;
}

std::uint64_t InferLinear::weight_bytes() const noexcept {
  if (!int8_) return static_cast<std::uint64_t>(stored_rows_ * K_) * 4;
  return static_cast<std::uint64_t>(stored_rows_ * K_) + (per_tensor_ ? 4 : static_cast<std::uint64_t>(stored_rows_) * 4);
}

void InferLinear::forward_f32(const float* x, std::int64_t ldx, std::int64_t M, std::int64_t g0, std::int64_t g1,
                              float* y, std::int64_t ldy, const float* addend, std::int64_t ld_add,
                              const float* bias) const {
  kernels::GemmF32Args a;
  a.x = x;
  a.ldx = ldx;
  a.M = M;
  a.w = &wf_;
  a.g0 = g0;
  a.g1 = g1;
  a.addend = addend;
  a.ld_add = ld_add;
  a.bias = bias;
  a.y = y;
  a.ldy = ldy;
  a.y_cols = rows_;
  kernels::active().sgemm_packed(a);
}

void InferLinear::forward_i8(const QAct& qa, std::int64_t m0, std::int64_t m1, std::int64_t g0, std::int64_t g1, float* y,
                             std::int64_t ldy, const float* addend, std::int64_t ld_add, const float* bias) const {
  kernels::GemmArgs a;
  a.qa = qa.q.data() + m0 * qa.Kp;
  a.lda = qa.Kp;
  a.M = m1 - m0;
  a.w = &packed_;
  a.g0 = g0;
  a.g1 = g1;
  a.sa = qa.scale.data() + m0;
  a.zpa = qa.zp.data() + m0;
  a.addend = addend;
  a.ld_add = ld_add;
  a.bias = bias;
  a.y = y;
  a.ldy = ldy;
  a.y_cols = rows_;
  kernels::active().gemm_f32(a);
}

// ---------------------------------------------------------------- InferenceModel
void InferenceModel::State::reset(const ModelConfig& cfg, std::int64_t B) {
  batch = B;
  h.resize(static_cast<std::size_t>(cfg.nlayers * B * cfg.nhid));
  c.resize(static_cast<std::size_t>(cfg.nlayers * B * cfg.nhid));
  h.zero();
  c.zero();
}

void InferenceModel::build_layout() {
  const std::int64_t H = cfg_.nhid;
  Hp_ = (H + 7) / 8 * 8;
  blocked_rows_.assign(static_cast<std::size_t>(4 * Hp_), -1);
  for (std::int64_t u = 0; u < Hp_ / 8; ++u)
    for (std::int64_t g = 0; g < 4; ++g)
      for (std::int64_t jj = 0; jj < 8; ++jj) {
        const std::int64_t unit = 8 * u + jj;
        if (unit < H) blocked_rows_[static_cast<std::size_t>(32 * u + 8 * g + jj)] = g * H + unit;
      }
}

namespace {
bool is_i8(const Tensor& t) { return t.dtype() == DType::I8; }
bool per_tensor_scale(const Tensor& s) { return s.shape().size() == 1; }
}  // namespace

InferenceModel InferenceModel::from_checkpoint(const Checkpoint& ck, const InferOptions& opt) {
  blas::ensure_single_threaded();
  InferenceModel m;
  m.cfg_ = ck.config;
  m.opt_ = opt;
  m.build_layout();
  const std::int64_t V = m.cfg_.vocab_size, E = m.cfg_.emsize, H = m.cfg_.nhid;

  auto linear = [&](const std::string& name, std::int64_t N, std::int64_t K, const std::vector<std::int64_t>* map) {
    const Tensor& t = ck.tensor(name);
    if (is_i8(t)) {
      const Tensor& s = ck.tensor(name + "_scale");
      return InferLinear::from_i8(t.data<std::int8_t>(), s.data<float>(), per_tensor_scale(s), N, K, map);
    }
    return InferLinear::from_f32(t.data<float>(), N, K, map);
  };

  const Tensor& enc = ck.tensor("encoder.weight");
  if (is_i8(enc)) {
    const Tensor& s = ck.tensor("encoder.weight_scale");
    m.emb_int8_ = true;
    m.emb_per_tensor_ = per_tensor_scale(s);
    m.emb_i8_.resize(static_cast<std::size_t>(V * E));
    std::memcpy(m.emb_i8_.data(), enc.data<std::int8_t>(), static_cast<std::size_t>(V * E));
    m.emb_scale_.resize(static_cast<std::size_t>(s.numel()));
    std::memcpy(m.emb_scale_.data(), s.data<float>(), sizeof(float) * static_cast<std::size_t>(s.numel()));
  } else {
    m.emb_f32_.resize(static_cast<std::size_t>(V * E));
    std::memcpy(m.emb_f32_.data(), enc.data<float>(), sizeof(float) * static_cast<std::size_t>(V * E));
  }
  for (std::int64_t l = 0; l < m.cfg_.nlayers; ++l) {
    const auto k = std::to_string(l);
    Layer layer{linear("rnn.weight_ih_l" + k, 4 * H, m.cfg_.input_size(l), &m.blocked_rows_),
                linear("rnn.weight_hh_l" + k, 4 * H, H, &m.blocked_rows_), {}};
    layer.bias.resize(static_cast<std::size_t>(4 * m.Hp_));
    const float* bih = ck.tensor("rnn.bias_ih_l" + k).data<float>();
    const float* bhh = ck.tensor("rnn.bias_hh_l" + k).data<float>();
    for (std::int64_t r = 0; r < 4 * m.Hp_; ++r) {
      const std::int64_t src = m.blocked_rows_[static_cast<std::size_t>(r)];
      layer.bias[static_cast<std::size_t>(r)] = src < 0 ? 0.0f : bih[src] + bhh[src];
    }
    m.layers_.push_back(std::move(layer));
  }
  const bool separate_decoder = !m.cfg_.tied || ck.find("decoder.weight") != nullptr;
  m.dec_ = linear(separate_decoder ? "decoder.weight" : "encoder.weight", V, H, nullptr);
  m.dec_bias_.resize(static_cast<std::size_t>(V));
  std::memcpy(m.dec_bias_.data(), ck.tensor("decoder.bias").data<float>(), sizeof(float) * static_cast<std::size_t>(V));
  return m;
}

InferenceModel InferenceModel::from_params(const LstmLM<float>& lm, const InferOptions& opt) {
  blas::ensure_single_threaded();
  InferenceModel m;
  m.cfg_ = lm.config();
  m.opt_ = opt;
  m.build_layout();
  const std::int64_t V = m.cfg_.vocab_size, E = m.cfg_.emsize, H = m.cfg_.nhid;
  m.emb_f32_.resize(static_cast<std::size_t>(V * E));
  std::memcpy(m.emb_f32_.data(), lm.param(lm.spec(ParamRole::Embedding)), sizeof(float) * static_cast<std::size_t>(V * E));
  for (std::int64_t l = 0; l < m.cfg_.nlayers; ++l) {
    Layer layer{InferLinear::from_f32(lm.param(lm.spec(ParamRole::WeightIH, l)), 4 * H, m.cfg_.input_size(l), &m.blocked_rows_),
                InferLinear::from_f32(lm.param(lm.spec(ParamRole::WeightHH, l)), 4 * H, H, &m.blocked_rows_), {}};
    layer.bias.resize(static_cast<std::size_t>(4 * m.Hp_));
    const float* bih = lm.param(lm.spec(ParamRole::BiasIH, l));
    const float* bhh = lm.param(lm.spec(ParamRole::BiasHH, l));
    for (std::int64_t r = 0; r < 4 * m.Hp_; ++r) {
      const std::int64_t src = m.blocked_rows_[static_cast<std::size_t>(r)];
      layer.bias[static_cast<std::size_t>(r)] = src < 0 ? 0.0f : bih[src] + bhh[src];
    }
    m.layers_.push_back(std::move(layer));
  }
  m.dec_ = InferLinear::from_f32(lm.param(lm.spec(ParamRole::DecoderWeight)), V, H, nullptr);
  m.dec_bias_.resize(static_cast<std::size_t>(V));
  std::memcpy(m.dec_bias_.data(), lm.param(lm.spec(ParamRole::DecoderBias)), sizeof(float) * static_cast<std::size_t>(V));
  return m;
}

bool InferenceModel::any_int8() const noexcept {
  if (emb_int8_ || dec_.int8()) return true;
  for (const auto& l : layers_)
    if (l.ih.int8() || l.hh.int8()) return true;
  return false;
}

std::string InferenceModel::describe() const {
  int n8 = 0, n = 0;
  for (const auto& l : layers_) n8 += l.ih.int8() + l.hh.int8(), n += 2;
  n8 += dec_.int8(), ++n;
  if (n8 == 0 && !emb_int8_) return "fp32";
  std::string s = n8 == n ? "int8" : fmt::format("int8 ({}/{} matmuls)", n8, n);
  s += emb_int8_ ? " + int8 embedding" : " (embedding fp32)";
  return s;
}

std::uint64_t InferenceModel::weight_bytes() const noexcept {
  std::uint64_t b = emb_int8_ ? emb_i8_.size() + emb_scale_.size() * 4 : emb_f32_.size() * 4;
  for (const auto& l : layers_) {
    b += l.ih.weight_bytes() + l.hh.weight_bytes();
    b += static_cast<std::uint64_t>(2 * 4 * cfg_.nhid) * 4;  // b_ih + b_hh
  }
  if (!cfg_.tied || dec_.int8() != emb_int8_) b += dec_.weight_bytes();
  return b + dec_bias_.size() * 4;
}

void InferenceModel::reserve(std::int64_t steps, std::int64_t B, int threads) {
  const std::int64_t M = steps * B;
  const std::int64_t width = std::max(cfg_.emsize, cfg_.nhid);
  if (M > cap_rows_) {
    xa_.resize(static_cast<std::size_t>(M * width));
    xb_.resize(static_cast<std::size_t>(M * width));
    z_.resize(static_cast<std::size_t>(M * 4 * Hp_));
    logits_.resize(static_cast<std::size_t>(M * cfg_.vocab_size));
    chunk_.resize(static_cast<std::size_t>(2 * kNllChunk * cfg_.vocab_size));
    qx_.reserve(M, width);
    cap_rows_ = M;
  }
  if (B > cap_batch_ || threads > cap_threads_) {
    qh_.resize(static_cast<std::size_t>(std::max(threads, cap_threads_)));
    for (auto& q : qh_) q.reserve(std::max(B, cap_batch_), cfg_.nhid);
    cap_batch_ = std::max(B, cap_batch_);
    cap_threads_ = std::max(threads, cap_threads_);
    part_lo_.assign(static_cast<std::size_t>(cap_threads_), 0.0f);
    part_hi_.assign(static_cast<std::size_t>(cap_threads_), 0.0f);
  }
  qx_.reserve(M, width);
}

// y (M, ycols) = x (M, K) W^T + bias for a big projection: rows of x are quantized by all threads
// (per-tensor needs one extra barrier to combine ranges), then row groups of W are split. Ends
// with a barrier: y is complete when it returns.
void InferenceModel::project(const InferLinear& lin, const float* x, std::int64_t ldx, std::int64_t M, float* y,
                             std::int64_t ldy, const float* bias, int tid, int nt, ThreadPool& pool, int site) {
  auto [g0, g1] = split_range(lin.groups(), tid, nt);
  if (!lin.int8()) {
    lin.forward_f32(x, ldx, M, g0, g1, y, ldy, nullptr, 0, bias);
    pool.barrier();
    return;
  }
  quantize_input(lin, x, ldx, M, tid, nt, pool, site);
  lin.forward_i8(qx_, 0, M, g0, g1, y, ldy, nullptr, 0, bias);
  pool.barrier();  // y complete; qx_ free for the next projection
}

// Rows of x (M, K) quantized into qx_ by all threads; ends with a barrier.
void InferenceModel::quantize_input(const InferLinear& lin, const float* x, std::int64_t ldx, std::int64_t M, int tid,
                                    int nt, ThreadPool& pool, int site) {
  auto [m0, m1] = split_range(M, tid, nt);
  bool ok = true;
  float lo = 0, hi = 0;
  const std::int64_t Kp = QAct::padded(lin.K());
  if (opt_.act == ActGranularity::PerTensor) {
    ok &= act_range(x, ldx, lin.K(), m0, m1, &part_lo_[static_cast<std::size_t>(tid)], &part_hi_[static_cast<std::size_t>(tid)]);
    pool.barrier();
    for (int t = 0; t < nt; ++t) lo = std::min(lo, part_lo_[static_cast<std::size_t>(t)]), hi = std::max(hi, part_hi_[static_cast<std::size_t>(t)]);
  }
  ok &= quantize_act_rows(x, ldx, lin.K(), Kp, m0, m1, opt_.act, lo, hi, qx_);
  if (!ok) std::atomic_ref<int>(bad_site_).store(site);
  if (tid == 0) qx_.rows = M, qx_.Kp = Kp;
  pool.barrier();
}

// nll_out[m] = -log softmax(decoder(x[m]))[targets[m]] for m < M. A window's logits (bptt x batch
// x V floats: 14 MB for 350 rows of a 10k vocabulary) would go out to memory and come back for the
// reduction; instead kNllChunk rows at a time are computed into a double buffer that stays in
// cache and reduced at once. Threads split the weight row groups for the product and the rows for
// the reduction; with two buffers one barrier per chunk suffices (chunk c+2 reuses chunk c's
// buffer only after every thread has passed chunk c+1's barrier, so finished reducing chunk c).
void InferenceModel::decoder_nll(const float* x, std::int64_t M, const std::int32_t* targets, double* nll_out, int tid,
                                 int nt, ThreadPool& pool) {
  const std::int64_t V = cfg_.vocab_size, H = cfg_.nhid;
  const int site = static_cast<int>(2 * cfg_.nlayers);
  if (!dec_.int8()) {
    // fp32 weights are 4x larger (8 MB for 10k x 200): streaming them once per chunk costs more
    // than the logits' round trip, so the fp32 path takes the window whole (measured)
    project(dec_, x, H, M, logits_.data(), V, dec_bias_.data(), tid, nt, pool, site);
    auto [m0, m1] = split_range(M, tid, nt);
    nn::softmax_xent_forward<float>(logits_.data(), targets, V, m0, m1, nll_out);
    pool.barrier();
    return;
  }
  auto [g0, g1] = split_range(dec_.groups(), tid, nt);
  quantize_input(dec_, x, H, M, tid, nt, pool, site);
  for (std::int64_t c0 = 0, c = 0; c0 < M; c0 += kNllChunk, ++c) {
    const std::int64_t c1 = std::min(M, c0 + kNllChunk);
    float* y = chunk_.data() + (c % 2) * kNllChunk * V;  // (c1 - c0, V)
    dec_.forward_i8(qx_, c0, c1, g0, g1, y, V, nullptr, 0, dec_bias_.data());
    pool.barrier();
    auto [r0, r1] = split_range(c1 - c0, tid, nt);
    nn::softmax_xent_forward<float>(y, targets + c0, V, r0, r1, nll_out + c0);
  }
  pool.barrier();  // every nll_out written; qx_ free
}

namespace {
std::string site_name(int site, std::int64_t L) {
  if (site == 2 * L) return "decoder.weight";
  return fmt::format("rnn.weight_{}_l{}", site % 2 == 0 ? "ih" : "hh", site / 2);
}
}  // namespace

void InferenceModel::forward(const std::int32_t* tokens, std::int64_t steps, State& st, ThreadPool& pool, Post post,
                             const std::int32_t* targets, double* nll_out) {
  const std::int64_t B = st.batch, M = steps * B, V = cfg_.vocab_size, E = cfg_.emsize, H = cfg_.nhid;
  const std::int64_t L = cfg_.nlayers, G = 4 * Hp_;
  WORDLM_CHECK(steps >= 1 && B >= 1, "empty input");
  for (std::int64_t i = 0; i < M; ++i)
    if (tokens[i] < 0 || tokens[i] >= V) throw_usage(fmt::format("token id {} outside the vocabulary (0..{})", tokens[i], V - 1));
  if (post == Post::Nll) {
    WORDLM_CHECK(targets && nll_out, "Nll needs targets and an output");
    for (std::int64_t i = 0; i < M; ++i)
      if (targets[i] < 0 || targets[i] >= V) throw_usage(fmt::format("target id {} outside the vocabulary (0..{})", targets[i], V - 1));
  }
  reserve(steps, B, pool.size());
  bad_site_ = -1;

  pool.run([&](int tid, int nt) {
    // ---- embedding
    auto [m0, m1] = split_range(M, tid, nt);
    float* x = xa_.data();
    float* y = xb_.data();
    for (std::int64_t m = m0; m < m1; ++m) {
      const std::int64_t id = tokens[m];
      float* dst = x + m * E;
      if (emb_int8_) {
        const std::int8_t* q = emb_i8_.data() + id * E;
        const float s = emb_scale_[emb_per_tensor_ ? 0 : static_cast<std::size_t>(id)];
        for (std::int64_t e = 0; e < E; ++e) dst[e] = static_cast<float>(q[e]) * s;
      } else {
        std::memcpy(dst, emb_f32_.data() + id * E, sizeof(float) * static_cast<std::size_t>(E));
      }
    }
    pool.barrier();
    // ---- LSTM layers, layer-major
    const std::int64_t nblocks = Hp_ / 8;
    auto [u0, u1] = split_range(nblocks, tid, nt);
    QAct& qh = qh_[static_cast<std::size_t>(tid)];
    qh.reserve(B, H);
    for (std::int64_t l = 0; l < L; ++l) {
      const Layer& layer = layers_[static_cast<std::size_t>(l)];
      const std::int64_t K = cfg_.input_size(l);
      project(layer.ih, x, K, M, z_.data(), G, layer.bias.data(), tid, nt, pool, static_cast<int>(2 * l));
      float* hs = st.h.data() + l * B * H;
      float* cs = st.c.data() + l * B * H;
      for (std::int64_t t = 0; t < steps; ++t) {
        const float* hprev = t == 0 ? hs : y + (t - 1) * B * H;
        float* ht = y + t * B * H;
        float* zt = z_.data() + t * B * G;
        if (u1 > u0) {
          if (layer.hh.int8()) {
            float lo = 0, hi = 0;
            bool ok = true;
            if (opt_.act == ActGranularity::PerTensor) ok &= act_range(hprev, H, H, 0, B, &lo, &hi);
            ok &= quantize_act_rows(hprev, H, H, qh.Kp, 0, B, opt_.act, lo, hi, qh);
            if (!ok) std::atomic_ref<int>(bad_site_).store(static_cast<int>(2 * l + 1));
            layer.hh.forward_i8(qh, 0, B, u0, u1, zt, G, zt, G, nullptr);
          } else {
            layer.hh.forward_f32(hprev, H, B, u0, u1, zt, G, zt, G, nullptr);
          }
          const auto& k = kernels::active();
          for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t u = u0; u < u1; ++u) {
              float* zi = zt + b * G + 32 * u;
              const std::int64_t n = std::min<std::int64_t>(8, H - 8 * u);
              float* cb = cs + b * H + 8 * u;
              k.lstm_fwd(n, zi, zi + 8, zi + 16, zi + 24, cb, cb, ht + b * H + 8 * u, nullptr);
            }
        }
        pool.barrier();
      }
      // carry h_T (own units) into the state; every thread is past step T-1's reads
      for (std::int64_t b = 0; b < B; ++b) {
        const std::int64_t j0 = std::min(8 * u0, H), j1 = std::min(8 * u1, H);
        if (j1 > j0) std::memcpy(hs + b * H + j0, y + (steps - 1) * B * H + b * H + j0, sizeof(float) * static_cast<std::size_t>(j1 - j0));
      }
      std::swap(x, y);
      pool.barrier();
    }
    // ---- decoder and output
    if (post == Post::Nll) {
      decoder_nll(x, M, targets, nll_out, tid, nt, pool);
      return;
    }
    project(dec_, x, H, M, logits_.data(), V, dec_bias_.data(), tid, nt, pool, static_cast<int>(2 * L));
    if (post == Post::LogSoftmax) nn::log_softmax_rows<float>(logits_.data(), V, m0, m1);
  });
  if (bad_site_ >= 0)
    throw Error(ErrorKind::Data, "non-finite activation (NaN or Inf) entering " + site_name(bad_site_, L) +
                                     ": the model's weights or inputs are broken");
}

}  // namespace wordlm
