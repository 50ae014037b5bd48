// InferenceModel construction: weights from a checkpoint or from the trainable model's
// parameters, through one builder (so both permute and pack the same way), plus InferLinear.
#include <cstring>
#include <deque>

#include "core/half.hpp"
#include "fmt/format.h"
#include "model/infer.hpp"
#include "model/lstm_lm.hpp"
#include "nn/blas.hpp"
#include "qscheme/scheme.hpp"

namespace wordlm {

// ---------------------------------------------------------------- InferLinear
InferLinear InferLinear::make(const MatrixView& w, std::int64_t N, std::int64_t K,
                              const std::vector<std::int64_t>* src_row) {
  InferLinear l;
  l.bits_ = w.int4() ? 4 : w.int8() ? 8 : 0;
  l.stored_rows_ = N;
  l.per_tensor_ = w.per_tensor;
  l.rows_ = src_row ? static_cast<std::int64_t>(src_row->size()) : N;
  l.K_ = K;
  if (l.bits_ == 4) {
    std::vector<std::int8_t> codes(static_cast<std::size_t>(N * K));
    unpack_nibbles(w.u4, N, K, codes.data());
    l.group_ = w.group;
    kernels::pack_i4(codes.data(), w.scale, N, K, w.group, l.packed4_, src_row);
  } else if (l.bits_ == 8) {
    kernels::pack_i8(w.i8, w.scale, w.per_tensor, N, K, l.packed_, src_row);
  } else {
    kernels::pack_f32(w.f32, N, K, l.wf_, src_row);
  }
  return l;
}

std::uint64_t InferLinear::weight_bytes() const noexcept {
  if (bits_ == 0) return static_cast<std::uint64_t>(stored_rows_ * K_) * 4;
  if (bits_ == 4) return static_cast<std::uint64_t>(stored_rows_ * (K_ / 2 + 4 * (K_ / group_)));
  return static_cast<std::uint64_t>(stored_rows_ * K_) + (per_tensor_ ? 4 : static_cast<std::uint64_t>(stored_rows_) * 4);
}

void InferLinear::forward(const float* x, std::int64_t ldx, const LinearCall& c) const {
  kernels::GemmF32Args a;
  a.x = x;
  a.ldx = ldx;
  a.M = c.m1 - c.m0;
  a.w = &wf_;
  a.g0 = c.g0;
  a.g1 = c.g1;
  a.addend = c.addend;
  a.ld_add = c.ld_add;
  a.bias = c.bias;
  a.y = c.y;
  a.ldy = c.ldy;
  a.y_cols = rows_;
  kernels::active().sgemm_packed(a);
}

void InferLinear::forward(const QAct& qa, const LinearCall& c) const {
  if (bits_ == 4) {
    kernels::Gemm4Args a;
    a.qa = qa.q.data() + c.m0 * qa.Kp;
    a.lda = qa.Kp;
    a.M = c.m1 - c.m0;
    a.w = &packed4_;
    a.g0 = c.g0, a.g1 = c.g1;
    a.sa = qa.scale.data() + c.m0;
    a.zpa = qa.zp.data() + c.m0;
    a.addend = c.addend, a.ld_add = c.ld_add, a.bias = c.bias;
    a.y = c.y, a.ldy = c.ldy, a.y_cols = rows_;
    kernels::active().gemm4_f32(a);
    return;
  }
  kernels::GemmArgs a;
  a.qa = qa.q.data() + c.m0 * qa.Kp;
  a.lda = qa.Kp;
  a.M = c.m1 - c.m0;
  a.w = &packed_;
  a.g0 = c.g0;
  a.g1 = c.g1;
  a.sa = qa.scale.data() + c.m0;
  a.zpa = qa.zp.data() + c.m0;
  a.addend = c.addend;
  a.ld_add = c.ld_add;
  a.bias = c.bias;
  a.y = c.y;
  a.ldy = c.ldy;
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

void InferenceModel::set_embedding(const MatrixView& w) {
  const std::size_t n = static_cast<std::size_t>(cfg_.vocab_size * cfg_.emsize);
  emb_int8_ = w.int8() || w.int4();
  emb_bits_ = w.int4() ? 4 : w.int8() ? 8 : 0;
  if (w.int4()) {
    const std::int64_t V = cfg_.vocab_size, E = cfg_.emsize;
    emb_group_ = w.group;
    emb_u4_.resize(static_cast<std::size_t>(V * E / 2));
    std::memcpy(emb_u4_.data(), w.u4, emb_u4_.size());
    emb_scale_.resize(static_cast<std::size_t>(V * (E / w.group)));
    std::memcpy(emb_scale_.data(), w.scale, sizeof(float) * emb_scale_.size());
    return;
  }
  if (!emb_int8_) {
    emb_f32_.resize(n);
    std::memcpy(emb_f32_.data(), w.f32, sizeof(float) * n);
    return;
  }
  emb_per_tensor_ = w.per_tensor;
  emb_i8_.resize(n);
  std::memcpy(emb_i8_.data(), w.i8, n);
  const std::size_t ns = w.per_tensor ? 1 : static_cast<std::size_t>(cfg_.vocab_size);
  emb_scale_.resize(ns);
  std::memcpy(emb_scale_.data(), w.scale, sizeof(float) * ns);
}

InferenceModel InferenceModel::build(const ModelConfig& cfg, const Source& src, const ParamSpec& decoder,
                                     const InferOptions& opt) {
  blas::ensure_single_threaded();
  InferenceModel m;
  m.cfg_ = cfg;
  m.opt_ = opt;
  m.build_layout();
  const auto specs = param_specs(cfg);
  auto spec = [&](ParamRole r, std::int64_t l = -1) -> const ParamSpec& { return find_param(specs, cfg, r, l); };
  m.set_embedding(src.matrix(spec(ParamRole::Embedding)));
  const std::int64_t H = cfg.nhid;
  for (std::int64_t l = 0; l < cfg.nlayers; ++l) {
    Layer layer{InferLinear::make(src.matrix(spec(ParamRole::WeightIH, l)), 4 * H, cfg.input_size(l), &m.blocked_rows_),
                InferLinear::make(src.matrix(spec(ParamRole::WeightHH, l)), 4 * H, H, &m.blocked_rows_), {}};
    // b_ih + b_hh, permuted like the weight rows (padding units get 0)
    const float* bih = src.vector(spec(ParamRole::BiasIH, l));
    const float* bhh = src.vector(spec(ParamRole::BiasHH, l));
    layer.bias.resize(static_cast<std::size_t>(4 * m.Hp_));
    for (std::int64_t r = 0; r < 4 * m.Hp_; ++r) {
      const std::int64_t s = m.blocked_rows_[static_cast<std::size_t>(r)];
      layer.bias[static_cast<std::size_t>(r)] = s < 0 ? 0.0f : bih[s] + bhh[s];
    }
    m.layers_.push_back(std::move(layer));
  }
  m.dec_ = InferLinear::make(src.matrix(decoder), cfg.vocab_size, H, nullptr);
  m.dec_bias_.resize(static_cast<std::size_t>(cfg.vocab_size));
  std::memcpy(m.dec_bias_.data(), src.vector(spec(ParamRole::DecoderBias)),
              sizeof(float) * static_cast<std::size_t>(cfg.vocab_size));
  return m;
}

InferenceModel InferenceModel::from_checkpoint(const Checkpoint& ck, const InferOptions& opt) {
  Source src;
  std::deque<std::vector<float>> f16_scales;  // 4-bit scales as floats, alive until build() returns
  src.matrix = [&](const ParamSpec& s) {
    const Tensor& t = ck.tensor(s.name);
    MatrixView v;
    if (t.dtype() == DType::U8) {
      v.u4 = t.data<std::uint8_t>();
      v.group = ck.group_size(s.name);
      const Tensor& sc = ck.tensor(scale_name(s.name));
      const auto* h = reinterpret_cast<const std::uint16_t*>(sc.bytes());
      auto& f = f16_scales.emplace_back(static_cast<std::size_t>(sc.numel()));
      for (std::size_t i = 0; i < f.size(); ++i) f[i] = f16_to_f32(h[i]);
      v.scale = f.data();
    } else if (t.dtype() == DType::I8) {
      const Tensor& sc = ck.tensor(scale_name(s.name));
      v.i8 = t.data<std::int8_t>();
      v.scale = sc.data<float>();
      v.per_tensor = sc.shape().size() == 1;
    } else {
      v.f32 = t.data<float>();
    }
    return v;
  };
  src.vector = [&](const ParamSpec& s) { return ck.tensor(s.name).data<float>(); };
  const auto specs = param_specs(ck.config);
  // a tied model may run its decoder from a separately quantized copy
  const ParamSpec copy = tied_decoder_copy(ck.config);
  const bool own_decoder = ck.config.tied && ck.find(copy.name) != nullptr;
  return build(ck.config, src, own_decoder ? copy : find_param(specs, ck.config, ParamRole::DecoderWeight), opt);
}

InferenceModel InferenceModel::from_params(const LstmLM<float>& lm, const InferOptions& opt) {
  Source src;
  src.matrix = [&](const ParamSpec& s) {
    MatrixView v;
    v.f32 = lm.param(s);
    return v;
  };
  src.vector = [&](const ParamSpec& s) { return lm.param(s); };
  return build(lm.config(), src, lm.spec(ParamRole::DecoderWeight), opt);
}

bool InferenceModel::any_int8() const noexcept {
  if (emb_int8_ || dec_.int8()) return true;
  for (const auto& l : layers_)
    if (l.ih.int8() || l.hh.int8()) return true;
  return false;
}

std::string InferenceModel::describe() const {
  int n8 = 0, n4 = 0, n = 0;
  auto count = [&](const InferLinear& l) { n8 += l.bits() == 8, n4 += l.bits() == 4, ++n; };
  for (const auto& l : layers_) count(l.ih), count(l.hh);
  count(dec_);
  if (n8 + n4 == 0 && !emb_int8_) return "fp32";
  std::string s;
  if (n4 == 0) s = n8 == n ? "int8" : fmt::format("int8 ({}/{} matmuls)", n8, n);
  else if (n8 == 0) s = n4 == n ? "4-bit" : fmt::format("4-bit ({}/{} matmuls)", n4, n);
  else s = fmt::format("4-bit/int8 ({}+{}/{} matmuls)", n4, n8, n);
  s += emb_bits_ == 4 ? " + 4-bit embedding" : emb_bits_ == 8 ? " + int8 embedding" : " (embedding fp32)";
  return s;
}

std::uint64_t InferenceModel::weight_bytes() const noexcept {
  std::uint64_t b = emb_bits_ == 4 ? emb_u4_.size() + emb_scale_.size() * 4
                   : emb_int8_    ? emb_i8_.size() + emb_scale_.size() * 4
                                  : emb_f32_.size() * 4;
  for (const auto& l : layers_) {
    b += l.ih.weight_bytes() + l.hh.weight_bytes();
    b += static_cast<std::uint64_t>(2 * 4 * cfg_.nhid) * 4;  // b_ih + b_hh
  }
  if (!cfg_.tied || dec_.int8() != emb_int8_) b += dec_.weight_bytes();
  return b + dec_bias_.size() * 4;
}

}  // namespace wordlm
