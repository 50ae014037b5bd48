// InferenceModel: the forward-only LSTM LM used by evaluation, benchmarking, scoring and
// generation, for fp32 and int8 checkpoints alike. Each weight matrix is an InferLinear that is
// either fp32 (packed for the fp32 kernels) or int8 (packed for the int8 kernels, activations
// quantized dynamically per call), so a checkpoint may mix them (lm-quantize --keep).
//
// Layout: W_ih, W_hh and the biases are permuted once at load into "unit-blocked" order: for each
// block of 8 hidden units, 32 consecutive rows hold the i, f, g, o rows of those 8 units
// (H is padded to Hp = 8*ceil(H/8) with zero rows). One 32-row group of the int8 GEMM (or one
// slice of the fp32 GEMM) therefore yields whole units, a thread that owns a range of unit blocks
// runs its recurrent matmul and its cell update without waiting for anyone, and each time step
// costs a single barrier. Data flow per layer (layer-major, so W_hh stays hot in cache):
//   Z = X W_ih^T + (b_ih + b_hh) over all steps at once; then per step z_t += h_{t-1} W_hh^T, cell.
// No allocation happens per step or per call once the workspace has grown to the largest shape.
//
// A built model is immutable: forward() is const and every buffer it writes (the carried h/c and
// the workspace) lives in the caller's State, so one model may be shared by any number of threads,
// each with its own State (the library's sessions rely on this).
//
// Rows are independent: every output row depends only on its own input row (the kernels'
// accumulation order does not depend on M or on the thread split), so a sentence's score does
// not depend on its batch neighbours or the thread count (per-row activation scales; the
// per-tensor option couples rows by design).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/aligned.hpp"
#include "core/threads.hpp"
#include "io/checkpoint.hpp"
#include "kernels/kernels.hpp"
#include "qscheme/scheme.hpp"
#include "spec/tensors.hpp"

namespace wordlm {

template <class T>
class LstmLM;

// One call of a linear layer: y[m, r] = x[m, :] . W[r, :] (+ addend[m, r]) (+ bias[r]) for the
// activation rows [m0, m1) and the 32-row groups [g0, g1) of W; y and addend point at row m0's
// output. Named fields, so hot calls read as what they pass.
struct LinearCall {
  std::int64_t m0 = 0, m1 = 0;  // activation rows
  std::int64_t g0 = 0, g1 = 0;  // 32-row groups of the (permuted) weight rows
  float* y = nullptr;
  std::int64_t ldy = 0;
  const float* addend = nullptr;
  std::int64_t ld_add = 0;
  const float* bias = nullptr;
};

// A weight matrix as a loader hands it over: fp32 values, int8 codes with their scales, or
// 4-bit codes (packed nibble pairs, the checkpoint layout) with a scale per row and group.
struct MatrixView {
  const float* f32 = nullptr;
  const std::int8_t* i8 = nullptr;
  const std::uint8_t* u4 = nullptr;  // [rows, K / 2], see qscheme pack_nibbles
  std::int64_t group = 0;            // 4-bit: G
  const float* scale = nullptr;      // int8: [rows] or, per tensor, [1]; 4-bit: [rows, K / G]
  bool per_tensor = false;
  bool int8() const noexcept { return i8 != nullptr; }
  bool int4() const noexcept { return u4 != nullptr; }
};

class InferLinear {
 public:
  // w: (N, K); src_row (optional) maps packed row r to source row src_row[r] (-1: zero row).
  static InferLinear make(const MatrixView& w, std::int64_t N, std::int64_t K, const std::vector<std::int64_t>* src_row);
  bool int8() const noexcept { return bits_ != 0; }  // integer weights (8 or 4 bits): activations quantized
  int bits() const noexcept { return bits_; }        // 0 (fp32), 8 or 4
  std::int64_t rows() const noexcept { return rows_; }      // logical rows (after the row map)
  std::int64_t groups() const noexcept { return (rows_ + 31) / 32; }
  std::int64_t K() const noexcept { return K_; }
  std::uint64_t weight_bytes() const noexcept;               // as stored in a checkpoint
  const kernels::PackedI8& packed() const noexcept { return packed_; }

  void forward(const float* x, std::int64_t ldx, const LinearCall& c) const;  // fp32 weights; x row 0 = row m0
  void forward(const QAct& qa, const LinearCall& c) const;                    // int8/4-bit weights; rows m0.. of qa

 private:
  int bits_ = 0;
  std::int64_t group_ = 0;
  kernels::PackedI4 packed4_;
  std::int64_t rows_ = 0, K_ = 0;
  std::int64_t stored_rows_ = 0;  // rows of the matrix as stored (before padding/permutation)
  kernels::PackedF32 wf_;         // fp32 weights, packed once for the kernels
  kernels::PackedI8 packed_;
  bool per_tensor_ = false;
};

struct InferOptions {
  ActGranularity act = ActGranularity::PerRow;
};

class InferenceModel {
 public:
  static InferenceModel from_checkpoint(const Checkpoint& ck, const InferOptions& opt = {});
  static InferenceModel from_params(const LstmLM<float>& m, const InferOptions& opt = {});  // fp32 weights

  const ModelConfig& config() const noexcept { return cfg_; }
  bool any_int8() const noexcept;
  std::string describe() const;  // e.g. "fp32" or "int8 (embedding fp32)"
  std::uint64_t weight_bytes() const noexcept;
  ActGranularity act_granularity() const noexcept { return opt_.act; }

  // Scratch of one forward(), grown to the largest shape seen and reused.
  class Workspace {
    friend class InferenceModel;
    std::int64_t cap_rows = 0, cap_batch = 0;
    int cap_threads = 0;
    std::int64_t for_V = 0, for_width = 0, for_Hp = 0;  // the model shape the buffers were grown for
    AlignedBuffer<float> xa, xb;   // (M, max(E, H)) layer inputs/outputs, alternating
    AlignedBuffer<float> z;        // (M, 4Hp) gate pre-activations
    AlignedBuffer<float> logits;   // (M, V)
    AlignedBuffer<float> lanes;    // (M, 2, 16) per row, the softmax lanes of the NLL path (max, sum)
    std::vector<float> target_logit;  // (M) the NLL path's logit of each row's target
    QAct qx;                       // shared quantized input of a projection
    std::vector<QAct> qh;          // per thread: quantized h_{t-1}
    std::vector<float> part_lo, part_hi;  // per thread partial ranges (per-tensor activations)
    int bad_site = -1;             // written via std::atomic_ref inside parallel regions
  };

  // What one stream of text carries between calls: the recurrent state of B rows, and the
  // workspace of its last forward (whose output() it holds).
  struct State {
    AlignedBuffer<float> h, c;  // (L, B, H)
    std::int64_t batch = 0;
    Workspace ws;
    void reset(const ModelConfig& cfg, std::int64_t B);
    const float* output() const noexcept { return ws.logits.data(); }  // (steps*B, V) of the last forward
  };

  enum class Post { Logits, LogSoftmax, Nll };
  // tokens (steps, B) row-major -> st.output() (steps*B, V): logits, or log-probabilities with
  // LogSoftmax. With Nll, nll_out[m] = -log p(targets[m]) and output() is unspecified (the
  // logits are reduced block by block while they are in cache).
  // Throws Data naming the layer if an activation entering an int8 matmul is NaN or Inf.
  void forward(const std::int32_t* tokens, std::int64_t steps, State& st, ThreadPool& pool, Post post = Post::Logits,
               const std::int32_t* targets = nullptr, double* nll_out = nullptr) const;

 private:
  struct Layer {
    InferLinear ih, hh;
    AlignedBuffer<float> bias;  // (4Hp) b_ih + b_hh, unit-blocked
  };
  // What a loader provides: the model's matrices and bias vectors by spec.
  struct Source {
    std::function<MatrixView(const ParamSpec&)> matrix;
    std::function<const float*(const ParamSpec&)> vector;
  };
  static InferenceModel build(const ModelConfig& cfg, const Source& src, const ParamSpec& decoder, const InferOptions& opt);
  void build_layout();
  void set_embedding(const MatrixView& w);
  void reserve(Workspace& ws, std::int64_t steps, std::int64_t B, int threads) const;
  // the phases of forward(), run by every member of the team
  void embed(const std::int32_t* tokens, std::int64_t M, float* x, const Team& team) const;
  void lstm_layer(std::int64_t l, const float* x, float* y, std::int64_t steps, State& st, const Team& team) const;
  void project(Workspace& ws, const InferLinear& lin, const float* x, std::int64_t ldx, std::int64_t M, float* y,
               std::int64_t ldy, const float* bias, const Team& team, int site) const;
  void quantize_input(Workspace& ws, const InferLinear& lin, const float* x, std::int64_t ldx, std::int64_t M,
                      const Team& team, int site) const;
  void decoder_nll(Workspace& ws, const float* x, std::int64_t M, const std::int32_t* targets, double* nll_out,
                   const Team& team) const;
  void check_ids(const std::int32_t* ids, std::int64_t n, const char* what) const;

  ModelConfig cfg_;
  InferOptions opt_;
  std::int64_t Hp_ = 0;  // H rounded up to 8
  std::vector<std::int64_t> blocked_rows_;  // unit-blocked row map (4Hp entries)
  AlignedBuffer<float> emb_f32_;            // (V, E) when the embedding is fp32
  AlignedBuffer<std::int8_t> emb_i8_;       // (V, E) when int8
  AlignedBuffer<float> emb_scale_;          // (V) or (1); 4-bit: (V, E / G)
  AlignedBuffer<std::uint8_t> emb_u4_;      // (V, E / 2) when 4-bit
  bool emb_int8_ = false, emb_per_tensor_ = false;  // emb_int8_: integer codes (8 or 4 bits)
  int emb_bits_ = 0;
  std::int64_t emb_group_ = 0;
  std::vector<Layer> layers_;
  InferLinear dec_;
  AlignedBuffer<float> dec_bias_;  // (V)

  // vocabulary outputs per block of the NLL path (a multiple of 32: whole weight row groups).
  // Measured (small model, Brown, 1 thread, AVX-512, lm-bench eval 20k tokens, int8 / fp32 tok/s):
  // 128: 82.0k / 30.7k, 256: 79.5k / 29.7k, 512: 78.8k / 30.9k, 1024: 71.6k / 28.8k; the
  // previous 16-row chunks of the int8 decoder: 71.6k, fp32 whole windows: 26.7k.
  static constexpr std::int64_t kNllCols = 128;
};

}  // namespace wordlm
