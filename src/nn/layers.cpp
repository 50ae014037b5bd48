// Layer implementations (see layers.hpp), explicitly instantiated for float and double. float
// goes through the kernel table (AVX2 or scalar) for elementwise math; double uses the generic
// mathfn templates (libm), which is what makes it a reference.
#include "nn/layers.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/rng.hpp"
#include "kernels/kernels.hpp"
#include "kernels/mathfn.hpp"
#include "nn/blas.hpp"

namespace wordlm::nn {

// ---- embedding ---------------------------------------------------------------------------------
template <class T>
void embedding_forward(T* out, const std::int32_t* ids, std::int64_t n0, std::int64_t n1, const T* table, std::int64_t E) {
  for (std::int64_t n = n0; n < n1; ++n) std::memcpy(out + n * E, table + std::int64_t(ids[n]) * E, sizeof(T) * E);
}

template <class T>
void embedding_backward(T* dtable, const T* dout, const std::int32_t* ids, std::int64_t N, std::int64_t E,
                        std::int64_t v0, std::int64_t v1) {
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int64_t v = ids[n];
    if (v < v0 || v >= v1) continue;
    T* dst = dtable + v * E;
    const T* src = dout + n * E;
    for (std::int64_t e = 0; e < E; ++e) dst[e] += src[e];
  }
}

// ---- linear ------------------------------------------------------------------------------------
template <class T>
void linear_forward(T* out, const T* inp, const T* w, const T* b, std::int64_t M, std::int64_t K, std::int64_t N,
                    std::int64_t n0, std::int64_t n1) {
  if (n1 <= n0) return;
  for (std::int64_t m = 0; m < M; ++m) std::memcpy(out + m * N + n0, b + n0, sizeof(T) * (n1 - n0));
  blas::gemm<T>(false, true, M, n1 - n0, K, T(1), inp, K, w + n0 * K, K, T(1), out + n0, N);
}

template <class T>
void linear_backward_weights(T* dw, T* db, const T* dout, const T* inp, std::int64_t M, std::int64_t K, std::int64_t N,
                             std::int64_t n0, std::int64_t n1) {
  if (n1 <= n0) return;
  // dw[n0:n1, :] += dout[:, n0:n1]^T (n1-n0, M) x inp (M, K)
  blas::gemm<T>(true, false, n1 - n0, K, M, T(1), dout + n0, N, inp, K, T(1), dw + n0 * K, K);
  for (std::int64_t m = 0; m < M; ++m) {
    const T* row = dout + m * N;
    for (std::int64_t n = n0; n < n1; ++n) db[n] += row[n];
  }
}

template <class T>
void linear_backward_input(T* dinp, const T* dout, const T* w, std::int64_t M, std::int64_t K, std::int64_t N,
                           std::int64_t m0, std::int64_t m1) {
  (void)M;
  if (m1 <= m0) return;
  // dinp[m0:m1, :] = dout[m0:m1, :] (rows, N) x w (N, K)
  blas::gemm<T>(false, false, m1 - m0, K, N, T(1), dout + m0 * N, N, w, K, T(0), dinp + m0 * K, K);
}

bool packed_linear() noexcept { return kernels::active().isa == kernels::Isa::Avx512; }

void fake_quantize_rows(float* x, std::int64_t ld, std::int64_t K, std::int64_t m0, std::int64_t m1) {
  for (std::int64_t m = m0; m < m1; ++m) kernels::fake_quant_row_u7(x + m * ld, K, x + m * ld);
}

void linear_forward_packed(float* out, const float* inp, const kernels::PackedF32& w, const float* b, std::int64_t M,
                           std::int64_t N, std::int64_t g0, std::int64_t g1) {
  if (g1 <= g0) return;
  kernels::GemmF32Args a;
  a.x = inp, a.ldx = w.K, a.M = M, a.w = &w, a.g0 = g0, a.g1 = g1, a.bias = b, a.y = out, a.ldy = N, a.y_cols = N;
  kernels::active().sgemm_packed(a);
}

void linear_backward_weights_packed(float* dw, float* db, const float* dout, const kernels::PackedF32& inp_t,
                                    std::int64_t M, std::int64_t K, std::int64_t N, std::int64_t n0, std::int64_t n1) {
  if (n1 <= n0) return;
  kernels::GemmF32Args a;  // rows n of dw: x[n][m] = dout[m][n] (a column of dout), y = dw += x inp
  a.x = dout + n0, a.ldx = 1, a.ldx_k = N, a.M = n1 - n0, a.w = &inp_t, a.g0 = 0, a.g1 = inp_t.groups();
  a.y = dw + n0 * K, a.ldy = K, a.y_cols = K, a.addend = a.y, a.ld_add = K;
  kernels::active().sgemm_packed(a);
  for (std::int64_t m = 0; m < M; ++m) {
    const float* row = dout + m * N;
    for (std::int64_t n = n0; n < n1; ++n) db[n] += row[n];
  }
}

void linear_backward_input_packed(float* dinp, const float* dout, const kernels::PackedF32& w_t, std::int64_t K,
                                  std::int64_t N, std::int64_t m0, std::int64_t m1) {
  if (m1 <= m0) return;
  kernels::GemmF32Args a;
  a.x = dout + m0 * N, a.ldx = N, a.M = m1 - m0, a.w = &w_t, a.g0 = 0, a.g1 = w_t.groups();
  a.y = dinp + m0 * K, a.ldy = K, a.y_cols = K;
  kernels::active().sgemm_packed(a);
}

// ---- dropout -----------------------------------------------------------------------------------
template <class T>
void dropout_mask(T* mask, std::int64_t i0, std::int64_t i1, float p, std::uint64_t key, std::uint64_t index_offset) {
  const T keep = T(1) / (T(1) - T(p));
  for (std::int64_t i = i0; i < i1; ++i)
    mask[i] = counter_uniform(key, static_cast<std::uint64_t>(i) + index_offset) >= p ? keep : T(0);
}

template <class T>
void dropout_apply(T* y, const T* x, const T* mask, std::int64_t i0, std::int64_t i1) {
  for (std::int64_t i = i0; i < i1; ++i) y[i] = x[i] * mask[i];
}

// ---- softmax cross-entropy ---------------------------------------------------------------------
namespace {
// log(sum exp(x)) of one row, via the kernel table for float
inline double row_lse(const float* x, std::int64_t V) {
  float mx;
  const float sum = kernels::active().max_sumexp(x, V, &mx);
  return double(mx) + std::log(double(sum));
}
inline double row_lse(const double* x, std::int64_t V) {
  double mx = x[0];
  for (std::int64_t v = 1; v < V; ++v) mx = std::max(mx, x[v]);
  double s = 0;
  for (std::int64_t v = 0; v < V; ++v) s += std::exp(x[v] - mx);
  return mx + std::log(s);
}

// max and sum exp(x - max) of one row, through the kernels (float) or libm (double)
inline void row_stats(const float* x, std::int64_t V, float* mx, float* sum) {
  const auto& k = kernels::active();
  *mx = k.max(x, V);
  *sum = k.exp_sum(x, V, *mx);
}
inline void row_stats(const double* x, std::int64_t V, double* mx, double* sum) {
  *mx = row_lse(x, V);  // double keeps the log-sum-exp itself as the shift: the sum is then 1
  *sum = 1.0;
}
inline void exp_scale(float* x, std::int64_t V, float shift, float s) { kernels::active().exp_scale_store(x, V, shift, s); }
inline void exp_scale(double* x, std::int64_t V, double shift, double s) {
  for (std::int64_t v = 0; v < V; ++v) x[v] = std::exp(x[v] - shift) * s;
}
}  // namespace

template <class T>
double softmax_xent_forward(const T* logits, const std::int32_t* targets, std::int64_t V, std::int64_t m0,
                            std::int64_t m1, T* row_max, T* row_sum) {
  double total = 0;
  for (std::int64_t m = m0; m < m1; ++m) {
    const T* x = logits + m * V;
    row_stats(x, V, &row_max[m], &row_sum[m]);
    total += double(row_max[m]) + std::log(double(row_sum[m])) - double(x[targets[m]]);
  }
  return total;
}

template <class T>
void softmax_xent_backward(T* logits, const std::int32_t* targets, std::int64_t V, std::int64_t m0, std::int64_t m1,
                           const T* row_max, const T* row_sum, T grad_scale) {
  for (std::int64_t m = m0; m < m1; ++m) {
    T* x = logits + m * V;
    exp_scale(x, V, row_max[m], grad_scale / row_sum[m]);  // softmax * grad_scale
    x[targets[m]] -= grad_scale;
  }
}

template <class T>
double softmax_nll(const T* logits, const std::int32_t* targets, std::int64_t V, std::int64_t m0, std::int64_t m1,
                   double* nll_out) {
  double total = 0;
  for (std::int64_t m = m0; m < m1; ++m) {
    const T* x = logits + m * V;
    const double nll = row_lse(x, V) - double(x[targets[m]]);
    if (nll_out) nll_out[m] = nll;
    total += nll;
  }
  return total;
}

template <class T>
void log_softmax_rows(T* x, std::int64_t V, std::int64_t m0, std::int64_t m1) {
  for (std::int64_t m = m0; m < m1; ++m) {
    T* row = x + m * V;
    const T lse = static_cast<T>(row_lse(row, V));
    for (std::int64_t v = 0; v < V; ++v) row[v] = row[v] - lse;
  }
}

// ---- LSTM --------------------------------------------------------------------------------------
namespace {
// y (M, ycols) = x w^T (+ addend), x[m][k] at x[m * ldx + k * ldx_k], w packed: the float products
// of the LSTM on the packed kernels
void gemm_packed(const float* x, std::int64_t ldx, std::int64_t ldx_k, std::int64_t M, const kernels::PackedF32& w,
                 float* y, std::int64_t ldy, std::int64_t y_cols, const float* addend = nullptr, std::int64_t ld_add = 0) {
  if (M <= 0 || y_cols <= 0) return;
  kernels::GemmF32Args a;
  a.x = x, a.ldx = ldx, a.ldx_k = ldx_k, a.M = M, a.w = &w, a.g0 = 0, a.g1 = w.groups();
  a.y = y, a.ldy = ldy, a.y_cols = y_cols, a.addend = addend, a.ld_add = ld_add;
  kernels::active().sgemm_packed(a);
}

// This thread's share of out's panels from w[n * rs + k * cs] (out reserved; barrier after).
void pack_share(const float* w, std::int64_t rs, std::int64_t cs, kernels::PackedF32& out, const Team& team) {
  auto [p0, p1] = team.share(out.Np / 16);
  kernels::pack_f32_panels(w, rs, cs, out, p0, p1);
}
}  // namespace

template <class T>
void LstmCache<T>::reserve(std::int64_t T_, std::int64_t B, std::int64_t H) {
  auto need = [](AlignedBuffer<T>& b, std::int64_t n) {
    if (static_cast<std::int64_t>(b.size()) < n) b.resize(static_cast<std::size_t>(n));
  };
  need(gates, T_ * B * 4 * H);
  need(c, (T_ + 1) * B * H);
  need(h, (T_ + 1) * B * H);
  need(tc, T_ * B * H);
  need(dh, 2 * B * H);
  need(dc, B * H);
  need(whh, 4 * H * H);
  need(zrec, B * 4 * H);
}

namespace {
template <class T>
void cell_fwd(std::int64_t n, T* zi, T* zf, T* zg, T* zo, const T* cp, T* c, T* h, T* tc) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::active().lstm_fwd(n, zi, zf, zg, zo, cp, c, h, tc);
  } else {
    for (std::int64_t j = 0; j < n; ++j) mathfn::lstm_cell_fwd_one<T>(zi[j], zf[j], zg[j], zo[j], cp[j], c[j], h[j], tc[j]);
  }
}
template <class T>
void cell_bwd(std::int64_t n, T* ai, T* af, T* ag, T* ao, const T* cp, const T* tc, const T* dh, T* dc) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::active().lstm_bwd(n, ai, af, ag, ao, cp, tc, dh, dc);
  } else {
    for (std::int64_t j = 0; j < n; ++j) mathfn::lstm_cell_bwd_one<T>(ai[j], af[j], ag[j], ao[j], cp[j], tc[j], dh[j], dc[j]);
  }
}
}  // namespace

template <class T>
void lstm_forward(LstmCache<T>& cache, const T* x, const LstmDims& d, const LstmParams<T>& p, const Team& team,
                  PhaseTimer* prof) {
  const std::int64_t H = d.H, B = d.B, G = 4 * H, M = d.steps * d.B;
  const T *w_ih = p.w_ih, *w_hh = p.w_hh, *b_ih = p.b_ih, *b_hh = p.b_hh;
  const int tid = team.tid, nt = team.nt;
  T* gates = cache.gates.data();  // (T, B, 4H)
  bool packed = false, fq = false;
  if constexpr (std::is_same_v<T, float>) {
    packed = packed_linear();
    fq = d.fake_quant_h;
    if (packed || fq) {
      if (team.leader()) {
        if (packed) kernels::reserve_f32(cache.w_ih_p, G, d.K), cache.whh_p.resize(static_cast<std::size_t>(nt));
        if (fq) cache.hq_step.resize(static_cast<std::size_t>(nt));
      }
      team.barrier();
      if (fq) cache.hq_step[static_cast<std::size_t>(tid)].resize(static_cast<std::size_t>(B * H));
      if (packed) pack_share(w_ih, d.K, 1, cache.w_ih_p, team);
      team.barrier();
    }
  }
  // 1. input projection for all steps at once: gates = x w_ih^T + (b_ih + b_hh), rows split
  {
    auto [m0, m1] = split_range(M, tid, nt);
    for (std::int64_t m = m0; m < m1; ++m)
      for (std::int64_t g = 0; g < G; ++g) gates[m * G + g] = b_ih[g] + b_hh[g];
    if constexpr (std::is_same_v<T, float>)
      if (packed) gemm_packed(x + m0 * d.K, d.K, 1, m1 - m0, cache.w_ih_p, gates + m0 * G, G, G, gates + m0 * G, G);
    if (!packed && m1 > m0)
      blas::gemm<T>(false, true, m1 - m0, G, d.K, T(1), x + m0 * d.K, d.K, w_ih, d.K, T(1), gates + m0 * G, G);
  }
  team.barrier();
  if (prof) prof->mark("lstm forward: input projection");
  // 2. the recurrence, hidden units split across threads (one barrier per step). Each thread
  //    owns units [j0, j1); its i, f, g, o rows of w_hh are copied next to each other (whh) so
  //    that one GEMM per step computes all four gates of its units (into zrec).
  auto [j0, j1] = split_range(H, tid, nt, 8);
  const std::int64_t nj = j1 - j0;
  T* wt = cache.whh.data() + 4 * j0 * H;  // (4 nj, H)
  for (int g = 0; g < 4; ++g)
    if (nj > 0) std::memcpy(wt + g * nj * H, w_hh + (g * H + j0) * H, sizeof(T) * static_cast<std::size_t>(nj * H));
  [[maybe_unused]] kernels::PackedF32* whh_p = nullptr;
  if constexpr (std::is_same_v<T, float>)
    if (packed && nj > 0) {
      whh_p = &cache.whh_p[static_cast<std::size_t>(tid)];
      kernels::reserve_f32(*whh_p, 4 * nj, H);
      kernels::pack_f32_panels(wt, H, 1, *whh_p, 0, whh_p->Np / 16);
    }
  T* zr = cache.zrec.data() + 4 * j0;  // (B, 4 nj) with row stride 4H
  for (std::int64_t t = 0; t < d.steps; ++t) {
    T* z = gates + t * B * G;
    const T* hp = cache.h.data() + t * B * H;
    if constexpr (std::is_same_v<T, float>)
      if (fq && nj > 0) {  // the recurrent product's input, as the run-time kernels quantize it (every row: all of h)
        T* hq = cache.hq_step[static_cast<std::size_t>(tid)].data();
        std::memcpy(hq, hp, sizeof(T) * static_cast<std::size_t>(B * H));
        fake_quantize_rows(hq, H, H, 0, B);
        hp = hq;
      }
    const T* cp = cache.c.data() + t * B * H;
    T* cn = cache.c.data() + (t + 1) * B * H;
    T* hn = cache.h.data() + (t + 1) * B * H;
    T* tc = cache.tc.data() + t * B * H;
    if (nj > 0) {
      if constexpr (std::is_same_v<T, float>)
        if (packed) gemm_packed(hp, H, 1, B, *whh_p, zr, G, 4 * nj);
      if (!packed) blas::gemm<T>(false, true, B, 4 * nj, H, T(1), hp, H, wt, H, T(0), zr, G);
      for (std::int64_t b = 0; b < B; ++b) {
        T* zb = z + b * G;
        const T* rb = zr + b * G;
        for (int g = 0; g < 4; ++g)
          for (std::int64_t j = 0; j < nj; ++j) zb[g * H + j0 + j] += rb[g * nj + j];
        cell_fwd<T>(nj, zb + j0, zb + H + j0, zb + 2 * H + j0, zb + 3 * H + j0, cp + b * H + j0, cn + b * H + j0,
                    hn + b * H + j0, tc + b * H + j0);
      }
    }
    team.barrier();
  }
  if (prof) prof->mark("lstm forward: recurrence");
}

template <class T>
void lstm_backward(LstmCache<T>& cache, const T* x, const T* dy, const LstmDims& d, const LstmParams<T>& p, T* dx,
                   const LstmGrads<T>& g, const Team& team, PhaseTimer* prof) {
  const std::int64_t H = d.H, B = d.B, G = 4 * H, M = d.steps * d.B;
  const T *w_ih = p.w_ih, *w_hh = p.w_hh;
  T *dw_ih = g.dw_ih, *dw_hh = g.dw_hh, *db_ih = g.db_ih, *db_hh = g.db_hh;
  const int tid = team.tid, nt = team.nt;
  T* gates = cache.gates.data();
  auto [j0, j1] = split_range(H, tid, nt, 8);
  const std::int64_t nj = j1 - j0;
  T* dc = cache.dc.data();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = j0; j < j1; ++j) dc[b * H + j] = T(0), cache.dh.data()[b * H + j] = T(0);
  bool packed = false;
  const T* h_in = cache.h.data();  // h_{0..T-1} as the recurrent products saw it (fake-quantized under QAT)
  [[maybe_unused]] kernels::PackedF32* whh_t = nullptr;
  if constexpr (std::is_same_v<T, float>) {
    packed = packed_linear();
    if (d.fake_quant_h) {
      if (team.leader()) cache.hq.resize(static_cast<std::size_t>(M * H));
      team.barrier();
      auto [q0, q1] = split_range(M, tid, nt);
      std::memcpy(cache.hq.data() + q0 * H, cache.h.data() + q0 * H, sizeof(T) * static_cast<std::size_t>((q1 - q0) * H));
      fake_quantize_rows(cache.hq.data(), H, H, q0, q1);
      team.barrier();
      h_in = cache.hq.data();
    }
    if (packed) {  // the window's operands: w_hh's columns of this thread's units, and for after the loop
      if (team.leader()) {
        kernels::reserve_f32(cache.w_ih_t, d.K, G), kernels::reserve_f32(cache.h_t, H, M);
        kernels::reserve_f32(cache.x_t, d.K, M), cache.whh_t.resize(static_cast<std::size_t>(nt));
      }
      team.barrier();
      pack_share(w_ih, 1, d.K, cache.w_ih_t, team);
      pack_share(h_in, 1, H, cache.h_t, team);
      pack_share(x, 1, d.K, cache.x_t, team);
      if (nj > 0) {
        whh_t = &cache.whh_t[static_cast<std::size_t>(tid)];
        kernels::reserve_f32(*whh_t, nj, G);
        kernels::pack_f32_panels(w_hh + j0, 1, H, *whh_t, 0, whh_t->Np / 16);
      }
    }
  }
  // 1. backward through time; dh[cur] holds the gradient reaching h_t from step t+1
  for (std::int64_t t = d.steps - 1; t >= 0; --t) {
    const std::int64_t cur = (d.steps - 1 - t) % 2;
    T* dh_in = cache.dh.data() + cur * B * H;
    T* dh_out = cache.dh.data() + (1 - cur) * B * H;
    T* z = gates + t * B * G;
    const T* cp = cache.c.data() + t * B * H;
    const T* tc = cache.tc.data() + t * B * H;
    const T* dyt = dy + t * B * H;
    for (std::int64_t b = 0; b < B; ++b) {
      T* dhb = dh_in + b * H;
      for (std::int64_t j = j0; j < j1; ++j) dhb[j] += dyt[b * H + j];
      T* zb = z + b * G;
      cell_bwd<T>(nj, zb + j0, zb + H + j0, zb + 2 * H + j0, zb + 3 * H + j0, cp + b * H + j0, tc + b * H + j0,
                  dhb + j0, dc + b * H + j0);
    }
    team.barrier();  // all of dz_t is ready
    // dh_{t-1}[:, j0:j1] = dz_t (B, 4H) x w_hh[:, j0:j1] (4H, nj)
    if constexpr (std::is_same_v<T, float>)
      if (packed && nj > 0 && t > 0) gemm_packed(z, G, 1, B, *whh_t, dh_out + j0, H, nj);
    if (!packed && nj > 0 && t > 0) blas::gemm<T>(false, false, B, nj, G, T(1), z, G, w_hh + j0, H, T(0), dh_out + j0, H);
  }
  team.barrier();
  if (prof) prof->mark("lstm backward: recurrence");
  // 2. weight gradients (rows of 4H split) and the input gradient (rows of T*B split)
  const T* dz = gates;  // (T*B, 4H)
  auto [r0, r1] = split_range(G, tid, nt, 8);
  if (r1 > r0) {
    // dw_hh[r0:r1] += dz[:, r0:r1]^T h_{0..T-1};  dw_ih[r0:r1] += dz[:, r0:r1]^T x
    if constexpr (std::is_same_v<T, float>)
      if (packed) {  // x = dz^T (a column of dz per row), accumulated into the gradients
        gemm_packed(dz + r0, 1, G, r1 - r0, cache.h_t, dw_hh + r0 * H, H, H, dw_hh + r0 * H, H);
        gemm_packed(dz + r0, 1, G, r1 - r0, cache.x_t, dw_ih + r0 * d.K, d.K, d.K, dw_ih + r0 * d.K, d.K);
      }
    if (!packed) {
      blas::gemm<T>(true, false, r1 - r0, H, M, T(1), dz + r0, G, h_in, H, T(1), dw_hh + r0 * H, H);
      blas::gemm<T>(true, false, r1 - r0, d.K, M, T(1), dz + r0, G, x, d.K, T(1), dw_ih + r0 * d.K, d.K);
    }
    for (std::int64_t m = 0; m < M; ++m) {
      const T* row = dz + m * G;
      for (std::int64_t r = r0; r < r1; ++r) db_ih[r] += row[r], db_hh[r] += row[r];
    }
  }
  if (dx) {
    auto [m0, m1] = split_range(M, tid, nt);
    if constexpr (std::is_same_v<T, float>)
      if (packed) gemm_packed(dz + m0 * G, G, 1, m1 - m0, cache.w_ih_t, dx + m0 * d.K, d.K, d.K);
    if (!packed && m1 > m0)
      blas::gemm<T>(false, false, m1 - m0, d.K, G, T(1), dz + m0 * G, G, w_ih, d.K, T(0), dx + m0 * d.K, d.K);
  }
  team.barrier();
  if (prof) prof->mark("lstm backward: weight and input gradients");
}

#define WORDLM_INSTANTIATE(T)                                                                                      \
  template void embedding_forward<T>(T*, const std::int32_t*, std::int64_t, std::int64_t, const T*, std::int64_t); \
  template void embedding_backward<T>(T*, const T*, const std::int32_t*, std::int64_t, std::int64_t, std::int64_t,  \
                                      std::int64_t);                                                               \
  template void linear_forward<T>(T*, const T*, const T*, const T*, std::int64_t, std::int64_t, std::int64_t,      \
                                  std::int64_t, std::int64_t);                                                     \
  template void linear_backward_weights<T>(T*, T*, const T*, const T*, std::int64_t, std::int64_t, std::int64_t,   \
                                           std::int64_t, std::int64_t);                                            \
  template void linear_backward_input<T>(T*, const T*, const T*, std::int64_t, std::int64_t, std::int64_t,         \
                                         std::int64_t, std::int64_t);                                              \
  template void dropout_mask<T>(T*, std::int64_t, std::int64_t, float, std::uint64_t, std::uint64_t);              \
  template void dropout_apply<T>(T*, const T*, const T*, std::int64_t, std::int64_t);                              \
  template double softmax_xent_forward<T>(const T*, const std::int32_t*, std::int64_t, std::int64_t, std::int64_t, \
                                          T*, T*);                                                                 \
  template void softmax_xent_backward<T>(T*, const std::int32_t*, std::int64_t, std::int64_t, std::int64_t,        \
                                         const T*, const T*, T);                                                   \
  template double softmax_nll<T>(const T*, const std::int32_t*, std::int64_t, std::int64_t, std::int64_t, double*); \
  template void log_softmax_rows<T>(T*, std::int64_t, std::int64_t, std::int64_t);                                 \
  template struct LstmCache<T>;                                                                                    \
  template void lstm_forward<T>(LstmCache<T>&, const T*, const LstmDims&, const LstmParams<T>&, const Team&,       \
                                PhaseTimer*);                                                                      \
  template void lstm_backward<T>(LstmCache<T>&, const T*, const T*, const LstmDims&, const LstmParams<T>&, T*,      \
                                 const LstmGrads<T>&, const Team&, PhaseTimer*);

WORDLM_INSTANTIATE(float)
WORDLM_INSTANTIATE(double)

}  // namespace wordlm::nn
