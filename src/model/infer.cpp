// InferenceModel forward: the layer-major pass (embedding, LSTM layers, decoder) as phases that
// every member of one thread team runs, meeting at barriers.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "fmt/format.h"
#include "model/infer.hpp"
#include "nn/layers.hpp"

namespace wordlm {

void InferenceModel::reserve(Workspace& ws, std::int64_t steps, std::int64_t B, int threads) const {
  const std::int64_t M = steps * B;
  const std::int64_t width = std::max(cfg_.emsize, cfg_.nhid);
  if (ws.for_V != cfg_.vocab_size || ws.for_width != width || ws.for_Hp != Hp_) {  // a State moved to another model
    ws.cap_rows = ws.cap_batch = 0;
    ws.cap_threads = 0;
    ws.qh.clear();
    ws.for_V = cfg_.vocab_size, ws.for_width = width, ws.for_Hp = Hp_;
  }
  if (M > ws.cap_rows) {
    ws.xa.resize(static_cast<std::size_t>(M * width));
    ws.xb.resize(static_cast<std::size_t>(M * width));
    ws.z.resize(static_cast<std::size_t>(M * 4 * Hp_));
    ws.logits.resize(static_cast<std::size_t>(M * cfg_.vocab_size));
    ws.lanes.resize(static_cast<std::size_t>(M * 32));
    ws.target_logit.resize(static_cast<std::size_t>(M));
    ws.qx.reserve(M, width);
    ws.cap_rows = M;
  }
  if (B > ws.cap_batch || threads > ws.cap_threads) {
    ws.qh.resize(static_cast<std::size_t>(std::max(threads, ws.cap_threads)));
    for (auto& q : ws.qh) q.reserve(std::max(B, ws.cap_batch), cfg_.nhid);
    ws.cap_batch = std::max(B, ws.cap_batch);
    ws.cap_threads = std::max(threads, ws.cap_threads);
    ws.part_lo.assign(static_cast<std::size_t>(ws.cap_threads), 0.0f);
    ws.part_hi.assign(static_cast<std::size_t>(ws.cap_threads), 0.0f);
  }
  ws.qx.reserve(M, width);
}

// y (M, ycols) = x (M, K) W^T + bias for a big projection: rows of x are quantized by all threads
// (per-tensor needs one extra barrier to combine ranges), then row groups of W are split. Ends
// with a barrier: y is complete when it returns.
void InferenceModel::project(Workspace& ws, const InferLinear& lin, const float* x, std::int64_t ldx, std::int64_t M,
                             float* y, std::int64_t ldy, const float* bias, const Team& team, int site) const {
  auto [g0, g1] = team.share(lin.groups());
  const LinearCall call{.m0 = 0, .m1 = M, .g0 = g0, .g1 = g1, .y = y, .ldy = ldy, .bias = bias};
  if (!lin.int8()) {
    lin.forward(x, ldx, call);
    team.barrier();
    return;
  }
  quantize_input(ws, lin, x, ldx, M, team, site);
  lin.forward(ws.qx, call);
  team.barrier();  // y complete; ws.qx free for the next projection
}

// Rows of x (M, K) quantized into ws.qx by all threads; ends with a barrier.
void InferenceModel::quantize_input(Workspace& ws, const InferLinear& lin, const float* x, std::int64_t ldx,
                                    std::int64_t M, const Team& team, int site) const {
  auto [m0, m1] = team.share(M);
  bool ok = true;
  float lo = 0, hi = 0;
  const std::int64_t Kp = QAct::padded(lin.K());
  if (opt_.act == ActGranularity::PerTensor) {
    const auto t = static_cast<std::size_t>(team.tid);
    ok &= act_range(x, ldx, lin.K(), m0, m1, &ws.part_lo[t], &ws.part_hi[t]);
    team.barrier();
    for (int u = 0; u < team.nt; ++u)
      lo = std::min(lo, ws.part_lo[static_cast<std::size_t>(u)]), hi = std::max(hi, ws.part_hi[static_cast<std::size_t>(u)]);
  }
  ok &= quantize_act_rows(x, ldx, lin.K(), Kp, m0, m1, opt_.act, lo, hi, ws.qx);
  if (!ok) std::atomic_ref<int>(ws.bad_site).store(site);
  if (team.leader()) ws.qx.rows = M, ws.qx.Kp = Kp;
  team.barrier();
}

// nll_out[m] = -log softmax(decoder(x[m]))[targets[m]] for m < M. A window's logits (bptt x batch
// x V floats: 14 MB for 350 rows of a 10k vocabulary) would go out to memory and come back for the
// reduction, and a decoder run per chunk of rows would stream the decoder's weights from memory
// once per chunk. Instead each thread takes its rows through the vocabulary in blocks of
// kNllCols outputs: the block's weights are read once per window, its logits (rows x kNllCols)
// are reduced while in cache, and each row's 16 softmax lanes carry over from block to block
// (sumexp_lanes), so the log-sum-exp is bit-identical to max_sumexp over the whole row. No
// barrier inside: a thread owns its rows.
void InferenceModel::decoder_nll(Workspace& ws, const float* x, std::int64_t M, const std::int32_t* targets,
                                 double* nll_out, const Team& team) const {
  const std::int64_t V = cfg_.vocab_size, H = cfg_.nhid;
  const int site = static_cast<int>(2 * cfg_.nlayers);
  if (dec_.int8()) quantize_input(ws, dec_, x, H, M, team, site);
  const auto& k = kernels::active();
  auto [m0, m1] = team.share(M);
  float* lanes = ws.lanes.data();  // (M, 2, 16): per row, the lanes' running max and sum
  for (std::int64_t m = m0; m < m1; ++m)
    for (int l = 0; l < 16; ++l) lanes[m * 32 + l] = -std::numeric_limits<float>::infinity(), lanes[m * 32 + 16 + l] = 0.0f;
  float* y = ws.logits.data();  // (M, V), only the current block's columns are touched
  for (std::int64_t c0 = 0; c0 < V; c0 += kNllCols) {
    const std::int64_t c1 = std::min(V, c0 + kNllCols);
    const LinearCall call{.m0 = m0, .m1 = m1, .g0 = c0 / 32, .g1 = (c1 + 31) / 32, .y = y + m0 * V, .ldy = V,
                          .bias = dec_bias_.data()};
    if (dec_.int8()) dec_.forward(ws.qx, call);
    else dec_.forward(x + m0 * H, H, call);
    for (std::int64_t m = m0; m < m1; ++m) k.sumexp_lanes(y + m * V + c0, c1 - c0, lanes + m * 32, lanes + m * 32 + 16);
    for (std::int64_t m = m0; m < m1; ++m)
      if (targets[m] >= c0 && targets[m] < c1) ws.target_logit[static_cast<std::size_t>(m)] = y[m * V + targets[m]];
  }
  for (std::int64_t m = m0; m < m1; ++m) {
    float mx;
    const float sum = kernels::sumexp_finish(lanes + m * 32, lanes + m * 32 + 16, &mx);
    nll_out[m] = double(mx) + std::log(double(sum)) - double(ws.target_logit[static_cast<std::size_t>(m)]);
  }
  team.barrier();  // every nll_out written; ws.qx free
}

// x[m, :] = embedding row of tokens[m] (dequantized when int8), rows split; ends with a barrier.
void InferenceModel::embed(const std::int32_t* tokens, std::int64_t M, float* x, const Team& team) const {
  const std::int64_t E = cfg_.emsize;
  auto [m0, m1] = team.share(M);
  for (std::int64_t m = m0; m < m1; ++m) {
    const std::int64_t id = tokens[m];
    float* dst = x + m * E;
    if (emb_bits_ == 4) {
      const std::uint8_t* q = emb_u4_.data() + id * (E / 2);
      const float* sc = emb_scale_.data() + id * (E / emb_group_);
      // group by group: no division per element (it cost ~0.5 us a row, 5-8% of a 4-bit b1 x s10)
      for (std::int64_t g = 0, e = 0; g < E / emb_group_; ++g) {
        const float s = sc[g];
        for (const std::int64_t end = e + emb_group_; e < end; e += 2) {  // groups are a multiple of 8
          const std::uint8_t b = q[e >> 1];
          dst[e] = static_cast<float>((b & 0x0F) - 8) * s;
          dst[e + 1] = static_cast<float>((b >> 4) - 8) * s;
        }
      }
    } else if (emb_int8_) {
      const std::int8_t* q = emb_i8_.data() + id * E;
      const float s = emb_scale_[emb_per_tensor_ ? 0 : static_cast<std::size_t>(id)];
      for (std::int64_t e = 0; e < E; ++e) dst[e] = static_cast<float>(q[e]) * s;
    } else {
      std::memcpy(dst, emb_f32_.data() + id * E, sizeof(float) * static_cast<std::size_t>(E));
    }
  }
  team.barrier();
}

// Layer l over all steps: y (steps*B, H) from x (steps*B, K) and the carried state, which is
// replaced by the final one. Threads own unit blocks [u0, u1) of the recurrence.
void InferenceModel::lstm_layer(std::int64_t l, const float* x, float* y, std::int64_t steps, State& st,
                                const Team& team) const {
  Workspace& ws = st.ws;
  const std::int64_t B = st.batch, M = steps * B, H = cfg_.nhid, G = 4 * Hp_;
  const Layer& layer = layers_[static_cast<std::size_t>(l)];
  project(ws, layer.ih, x, cfg_.input_size(l), M, ws.z.data(), G, layer.bias.data(), team, static_cast<int>(2 * l));
  auto [u0, u1] = team.share(Hp_ / 8);
  QAct& qh = ws.qh[static_cast<std::size_t>(team.tid)];
  qh.reserve(B, H);
  float* hs = st.h.data() + l * B * H;
  float* cs = st.c.data() + l * B * H;
  const auto& k = kernels::active();
  for (std::int64_t t = 0; t < steps; ++t) {
    const float* hprev = t == 0 ? hs : y + (t - 1) * B * H;
    float* ht = y + t * B * H;
    float* zt = ws.z.data() + t * B * G;  // z_t += h_{t-1} W_hh^T for this thread's units, then the cell
    if (u1 > u0) {
      const LinearCall call{.m0 = 0, .m1 = B, .g0 = u0, .g1 = u1, .y = zt, .ldy = G, .addend = zt, .ld_add = G};
      if (layer.hh.int8()) {
        float lo = 0, hi = 0;
        bool ok = true;
        if (opt_.act == ActGranularity::PerTensor) ok &= act_range(hprev, H, H, 0, B, &lo, &hi);
        ok &= quantize_act_rows(hprev, H, H, qh.Kp, 0, B, opt_.act, lo, hi, qh);
        if (!ok) std::atomic_ref<int>(ws.bad_site).store(static_cast<int>(2 * l + 1));
        layer.hh.forward(qh, call);
      } else {
        layer.hh.forward(hprev, H, call);
      }
      const std::int64_t units = std::min(8 * u1, H) - 8 * u0;  // this thread's units (the last block may be partial)
      for (std::int64_t b = 0; b < B; ++b) {
        float* cb = cs + b * H + 8 * u0;
        k.lstm_fwd_blocked(units, zt + b * G + 32 * u0, cb, cb, ht + b * H + 8 * u0);
      }
    }
    team.barrier();
  }
  // carry h_T (own units) into the state; every thread is past step T-1's reads
  const std::int64_t j0 = std::min(8 * u0, H), j1 = std::min(8 * u1, H);
  if (j1 > j0)
    for (std::int64_t b = 0; b < B; ++b)
      std::memcpy(hs + b * H + j0, y + (steps - 1) * B * H + b * H + j0, sizeof(float) * static_cast<std::size_t>(j1 - j0));
  team.barrier();
}

namespace {
std::string site_name(int site, std::int64_t L) {
  if (site == 2 * L) return "decoder.weight";
  return fmt::format("rnn.weight_{}_l{}", site % 2 == 0 ? "ih" : "hh", site / 2);
}
}  // namespace

void InferenceModel::check_ids(const std::int32_t* ids, std::int64_t n, const char* what) const {
  const std::int64_t V = cfg_.vocab_size;
  for (std::int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= V) throw_usage(fmt::format("{} id {} outside the vocabulary (0..{})", what, ids[i], V - 1));
}

void InferenceModel::forward(const std::int32_t* tokens, std::int64_t steps, State& st, ThreadPool& pool, Post post,
                             const std::int32_t* targets, double* nll_out) const {
  const std::int64_t B = st.batch, M = steps * B, V = cfg_.vocab_size, H = cfg_.nhid, L = cfg_.nlayers;
  WORDLM_CHECK(steps >= 1 && B >= 1, "empty input");
  WORDLM_CHECK(st.h.size() == static_cast<std::size_t>(L * B * H), "state was reset for another model or batch");
  check_ids(tokens, M, "token");
  if (post == Post::Nll) {
    WORDLM_CHECK(targets && nll_out, "Nll needs targets and an output");
    check_ids(targets, M, "target");
  }
  Workspace& ws = st.ws;
  reserve(ws, steps, B, pool.size());
  ws.bad_site = -1;
  pool.run([&](int tid, int nt) {
    const Team team{tid, nt, &pool};
    float* x = ws.xa.data();
    float* y = ws.xb.data();
    embed(tokens, M, x, team);
    for (std::int64_t l = 0; l < L; ++l) {
      lstm_layer(l, x, y, steps, st, team);
      std::swap(x, y);
    }
    if (post == Post::Nll) {
      decoder_nll(ws, x, M, targets, nll_out, team);
      return;
    }
    project(ws, dec_, x, H, M, ws.logits.data(), V, dec_bias_.data(), team, static_cast<int>(2 * L));
    auto [m0, m1] = team.share(M);
    if (post == Post::LogSoftmax) nn::log_softmax_rows<float>(ws.logits.data(), V, m0, m1);
  });
  if (ws.bad_site >= 0)
    throw Error(ErrorKind::Data, "non-finite activation (NaN or Inf) entering " + site_name(ws.bad_site, L) +
                                     ": the model's weights or inputs are broken");
}

}  // namespace wordlm
