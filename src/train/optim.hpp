// Optimizers over the flat parameter buffer, fused with gradient-norm clipping in one parallel
// region: SGD exactly as pytorch/examples (p -= lr * g after clip_grad_norm_), Adam (L2 weight
// decay folded into the gradient) and AdamW (decoupled weight decay), PyTorch's formulas.
#pragma once

#include <cstdint>
#include <string>

#include "core/aligned.hpp"
#include "core/threads.hpp"

namespace wordlm {

enum class OptimizerKind { Sgd, Adam, AdamW };
const char* optimizer_name(OptimizerKind k) noexcept;
OptimizerKind parse_optimizer(const std::string& s);  // throws Usage

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Sgd;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  void validate() const;  // Usage error unless weight_decay >= 0, betas in [0, 1), eps > 0 (all finite)
};

// The learning-rate rule for large batches (Goyal et al. 2017, "Accurate, Large Minibatch SGD"):
// with `linear`, the rate given is meant for base_batch columns and is multiplied by
// batch / base_batch, reached by a linear ramp from the unscaled rate over the first
// warmup_steps steps. Off by default: the rate is used as given. The factor depends on the
// global batch only, never on the number of processes, so a run's trajectory does not either.
struct LrScaling {
  bool linear = false;
  std::int64_t base_batch = 20;   // pytorch/examples' batch size
  std::int64_t warmup_steps = 0;  // 0: the full factor from the first step
  double factor(std::int64_t step, std::int64_t batch) const noexcept;
  template <class Self, class F>
  static void fields(Self& o, F&& f) {
    f("linear", o.linear);
    f("base_batch", o.base_batch);
    f("warmup_steps", o.warmup_steps);
  }
};

// PyTorch's clip_grad_norm_ coefficient: clip / (norm + 1e-6) when that is < 1 (and clip > 0), else 1.
float clip_coefficient(double norm, double clip) noexcept;

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& cfg, std::size_t n);
  const OptimizerConfig& config() const noexcept { return cfg_; }
  // Clips grads to total L2 norm `clip` (if clip > 0; PyTorch's clip_coef = clip / (norm + 1e-6),
  // applied when < 1), then updates params. Returns the norm before clipping.
  double step(float* params, float* grads, float lr, double clip, ThreadPool& pool);
  std::int64_t steps() const noexcept { return t_; }

  // step() in parts, for processes that each update a share of the parameters
  // (train/shared_update.hpp): count the step on every process, add the squares of the gradient's
  // [i0, i1), and update [i0, i1) with the clipping coefficient of the whole norm.
  void begin_step() noexcept { ++t_; }
  static double squared_sum(const float* grads, std::int64_t i0, std::int64_t i1) noexcept;
  void update(float* params, const float* grads, float lr, float coef, std::int64_t i0, std::int64_t i1);

  // Resume state: Adam moments (empty for SGD) and the step count.
  AlignedBuffer<float>& exp_avg() noexcept { return m_; }
  AlignedBuffer<float>& exp_avg_sq() noexcept { return v_; }
  const AlignedBuffer<float>& exp_avg() const noexcept { return m_; }
  const AlignedBuffer<float>& exp_avg_sq() const noexcept { return v_; }
  void set_steps(std::int64_t t) noexcept { t_ = t; }

 private:
  OptimizerConfig cfg_;
  std::size_t n_;
  AlignedBuffer<float> m_, v_;
  std::int64_t t_ = 0;
  std::vector<double> partial_;
};

}  // namespace wordlm
