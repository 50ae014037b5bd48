// The layers of the LSTM language model as raw-pointer functions, each forward next to its
// backward with mirrored arguments (llm.c style). Gradients carry a `d` prefix and accumulate
// with +=, except where a comment says "written". Every function works on a slice (row or
// column range) so the model can split a layer across threads without the layer knowing.
// Templated on float (production) and double (the gradient-check reference).
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned.hpp"
#include "core/phase_timer.hpp"
#include "core/threads.hpp"
#include "kernels/kernels.hpp"

namespace wordlm::nn {

// ---- embedding ---------------------------------------------------------------------------------
// out[n, :] = table[ids[n], :] for n in [n0, n1)           out: (N, E)   table: (V, E)
template <class T>
void embedding_forward(T* out, const std::int32_t* ids, std::int64_t n0, std::int64_t n1, const T* table, std::int64_t E);
// dtable[ids[n], :] += dout[n, :] for all n whose id lies in [v0, v1) (threads own vocab rows,
// so the scatter is race-free and its order is fixed)
template <class T>
void embedding_backward(T* dtable, const T* dout, const std::int32_t* ids, std::int64_t N, std::int64_t E,
                        std::int64_t v0, std::int64_t v1);

// ---- linear (decoder) --------------------------------------------------------------------------
// out[m, n] = sum_k inp[m, k] w[n, k] + b[n], columns n in [n0, n1)   inp: (M, K) w: (N, K) out: (M, N)
template <class T>
void linear_forward(T* out, const T* inp, const T* w, const T* b, std::int64_t M, std::int64_t K, std::int64_t N,
                    std::int64_t n0, std::int64_t n1);
// Column slice [n0, n1): dw[n0:n1, :] += dout[:, n0:n1]^T inp; db[n0:n1] += colsum(dout).
// Row slice [m0, m1): dinp[m0:m1, :] = dout[m0:m1, :] w  (written, not accumulated).
template <class T>
void linear_backward_weights(T* dw, T* db, const T* dout, const T* inp, std::int64_t M, std::int64_t K, std::int64_t N,
                             std::int64_t n0, std::int64_t n1);
template <class T>
void linear_backward_input(T* dinp, const T* dout, const T* w, std::int64_t M, std::int64_t K, std::int64_t N,
                           std::int64_t m0, std::int64_t m1);

// The same three products for float on the packed fp32 kernels (kernels.hpp) instead of OpenBLAS,
// taken where the active kernel table is AVX-512: there they run at about twice OpenBLAS 0.3.21's
// rate on these shapes (OpenBLAS picks its AVX2 Haswell kernels on this CPU; micro-benchmarks
// BM_fp32_packed vs BM_openblas_sgemm at 700 x 10000 x 200: 101 vs 52 GMAC/s, docs/benchmarks.md).
// Operands are packed per window by the caller (pack_f32_panels): w (N, K) for the forward, w^T
// (K, N) for the input gradient, inp^T (K, M) for the weight gradient.
bool packed_linear() noexcept;
// out[:, rows of 32-row groups [g0, g1)] = inp (M, K) w^T + b
void linear_forward_packed(float* out, const float* inp, const kernels::PackedF32& w, const float* b, std::int64_t M,
                           std::int64_t N, std::int64_t g0, std::int64_t g1);
// dw[n0:n1, :] += dout[:, n0:n1]^T inp; db[n0:n1] += colsum(dout)   (inp_t: inp^T packed, (K, M))
void linear_backward_weights_packed(float* dw, float* db, const float* dout, const kernels::PackedF32& inp_t,
                                    std::int64_t M, std::int64_t K, std::int64_t N, std::int64_t n0, std::int64_t n1);
// dinp[m0:m1, :] = dout[m0:m1, :] w   (w_t: w^T packed, (K, N))
void linear_backward_input_packed(float* dinp, const float* dout, const kernels::PackedF32& w_t, std::int64_t K,
                                  std::int64_t N, std::int64_t m0, std::int64_t m1);

// ---- dropout (inverted: kept units scaled by 1/(1-p)) --------------------------------------------
// mask[i] = (u(key, i + index_offset) >= p) ? 1/(1-p) : 0 for i in [i0, i1); u is a counter-based
// uniform, so the mask depends only on (key, index), never on threads. index_offset places a slice
// of a larger batch at its indices in that batch (data-parallel training).
template <class T>
void dropout_mask(T* mask, std::int64_t i0, std::int64_t i1, float p, std::uint64_t key, std::uint64_t index_offset = 0);
// forward: y = x * mask;  backward: dx = dy * mask  (same operation; in place allowed)
template <class T>
void dropout_apply(T* y, const T* x, const T* mask, std::int64_t i0, std::int64_t i1);

// ---- log-softmax + negative log-likelihood ------------------------------------------------------
// Forward for training: for rows [m0, m1) of logits (M, V) returns sum_m -log softmax(logits[m])
// [target[m]] and keeps per row the max and sum exp(x - max) (row_max, row_sum: (M)) that the
// backward needs; logits are left untouched.
template <class T>
double softmax_xent_forward(const T* logits, const std::int32_t* targets, std::int64_t V, std::int64_t m0,
                            std::int64_t m1, T* row_max, T* row_sum);
// Backward: overwrites logits rows [m0, m1) with d(loss)/d(logits) = (softmax - onehot(target)) *
// grad_scale, from the statistics the forward kept (one exp per logit, fused with the scaling).
template <class T>
void softmax_xent_backward(T* logits, const std::int32_t* targets, std::int64_t V, std::int64_t m0, std::int64_t m1,
                           const T* row_max, const T* row_sum, T grad_scale);
// Forward only (inference): sum of NLL over rows [m0, m1) in one pass per row (log-sum-exp kernel);
// optional per-row NLL out.
template <class T>
double softmax_nll(const T* logits, const std::int32_t* targets, std::int64_t V, std::int64_t m0, std::int64_t m1,
                   double* nll_out = nullptr);
// In place log-softmax of rows [m0, m1).
template <class T>
void log_softmax_rows(T* x, std::int64_t V, std::int64_t m0, std::int64_t m1);

// ---- LSTM layer over a window (PyTorch gate order i, f, g, o; separate b_ih, b_hh) --------------
// Sizes: T steps, B batch, K input width, H hidden. Buffers (owned by the caller, sized once):
template <class T>
struct LstmCache {
  AlignedBuffer<T> gates;  // (T, B, 4H): activations i,f,g,o after forward; d(pre-activation) after backward
  AlignedBuffer<T> c;      // (T+1, B, H): c[0] = c0, c[t+1] = c_t
  AlignedBuffer<T> h;      // (T+1, B, H): h[0] = h0, h[t+1] = h_t; rows 1..T are the layer output
  AlignedBuffer<T> tc;     // (T, B, H): tanh(c_t)
  AlignedBuffer<T> dh;     // (2, B, H): gradient reaching h from step t+1 (double buffer)
  AlignedBuffer<T> dc;     // (B, H): gradient reaching c_t from step t+1
  AlignedBuffer<T> whh;    // (4H, H): w_hh rows regrouped per thread, [i f g o] rows of its units
  AlignedBuffer<T> zrec;   // (B, 4H): h_{t-1} whh^T in that regrouped column order
  // float on the packed kernels (packed_linear()): the window's operands, packed once per window
  kernels::PackedF32 w_ih_p;              // (4H, K) w_ih, for the input projection
  kernels::PackedF32 w_ih_t;              // (K, 4H) w_ih^T, for the input gradient
  kernels::PackedF32 h_t, x_t;            // (H, T*B) h_{0..T-1}^T and (K, T*B) x^T, for the weight gradients
  std::vector<kernels::PackedF32> whh_p;  // per thread: its regrouped rows whh (4 nj, H)
  std::vector<kernels::PackedF32> whh_t;  // per thread: w_hh[:, j0:j1]^T (nj, 4H), for dh_{t-1}
  // float, fake-quantized h (LstmDims::fake_quant_h): per thread the step's h_{t-1} rows (B, H),
  // and h_{0..T-1} for the weight gradient (T*B, H)
  std::vector<AlignedBuffer<T>> hq_step;
  AlignedBuffer<T> hq;
  void reserve(std::int64_t steps, std::int64_t B, std::int64_t H);
};

struct LstmDims {
  std::int64_t steps, B, K, H;
  bool fake_quant_h = false;  // float: the recurrent products see h fake-quantized per row (QAT)
};

// Rows [m0, m1) of x (row stride ld, K used) replaced in place by their fake-quantized values
// (kernels::fake_quant_row_u7); a row with NaN/Inf is left as is (training then diverges on it).
void fake_quantize_rows(float* x, std::int64_t ld, std::int64_t K, std::int64_t m0, std::int64_t m1);

// The layer's parameters and their gradients (PyTorch layout, gate rows i, f, g, o).
template <class T>
struct LstmParams {
  const T* w_ih;  // (4H, K)
  const T* w_hh;  // (4H, H)
  const T* b_ih;  // (4H)
  const T* b_hh;  // (4H)
};
template <class T>
struct LstmGrads {
  T* dw_ih;  // (4H, K), accumulated
  T* dw_hh;  // (4H, H), accumulated
  T* db_ih;  // (4H), accumulated
  T* db_hh;  // (4H), accumulated
};

// Forward by one member of a team: the member's slice is hidden units for the recurrence and
// rows for the input projection; all members call it together and meet at barriers between
// phases and after every time step. prof (the leader only) times phases. x: (T*B, K). h0/c0: (B,
// H) are copied into cache.h[0]/cache.c[0] by the caller.
template <class T>
void lstm_forward(LstmCache<T>& cache, const T* x, const LstmDims& d, const LstmParams<T>& p, const Team& team,
                  PhaseTimer* prof = nullptr);
// Backward by one member: dy (T*B, H) is the gradient of the output rows h[1..T] (no gradient
// flows into h0/c0: the hidden state is detached between windows, as in pytorch/examples).
// Accumulates into g; writes dx (T*B, K) if dx is non-null.
template <class T>
void lstm_backward(LstmCache<T>& cache, const T* x, const T* dy, const LstmDims& d, const LstmParams<T>& p, T* dx,
                   const LstmGrads<T>& g, const Team& team, PhaseTimer* prof = nullptr);

}  // namespace wordlm::nn
