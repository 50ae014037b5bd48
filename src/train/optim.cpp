// Clip + update, split over threads by parameter ranges; the norm is reduced in thread order.
#include "train/optim.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace wordlm {

const char* optimizer_name(OptimizerKind k) noexcept {
  switch (k) {
    case OptimizerKind::Sgd: return "sgd";
    case OptimizerKind::Adam: return "adam";
    case OptimizerKind::AdamW: return "adamw";
  }
  return "?";
}

OptimizerKind parse_optimizer(const std::string& s) {
  if (s == "sgd") return OptimizerKind::Sgd;
  if (s == "adam") return OptimizerKind::Adam;
  if (s == "adamw") return OptimizerKind::AdamW;
  throw_usage("optimizer must be sgd, adam or adamw, not '" + s + "'");
}

double LrScaling::factor(std::int64_t step, std::int64_t batch) const noexcept {
  if (!linear) return 1.0;
  const double k = double(batch) / double(base_batch);
  if (warmup_steps > 0 && step < warmup_steps) return 1.0 + (k - 1.0) * double(step) / double(warmup_steps);
  return k;
}

Optimizer::Optimizer(const OptimizerConfig& cfg, std::size_t n) : cfg_(cfg), n_(n) {
  if (cfg_.kind != OptimizerKind::Sgd) {
    m_.resize(n);
    v_.resize(n);
  }
}

float clip_coefficient(double norm, double clip) noexcept {
  return clip > 0 && clip / (norm + 1e-6) < 1.0 ? static_cast<float>(clip / (norm + 1e-6)) : 1.0f;
}

double Optimizer::step(float* params, float* grads, float lr, double clip, ThreadPool& pool) {
  partial_.assign(static_cast<std::size_t>(pool.size()), 0.0);
  double norm = 0;
  begin_step();
  pool.run([&](int tid, int nt) {
    auto [i0, i1] = split_range(static_cast<std::int64_t>(n_), tid, nt, 16);
    partial_[static_cast<std::size_t>(tid)] = squared_sum(grads, i0, i1);
    pool.barrier();
    double total = 0;
    for (double p : partial_) total += p;
    const double nrm = std::sqrt(total);
    if (tid == 0) norm = nrm;
    update(params, grads, lr, clip_coefficient(nrm, clip), i0, i1);
  });
  return norm;
}

double Optimizer::squared_sum(const float* grads, std::int64_t i0, std::int64_t i1) noexcept {
  double s = 0;
  for (std::int64_t i = i0; i < i1; ++i) s += double(grads[i]) * double(grads[i]);
  return s;
}

void Optimizer::update(float* params, const float* grads, float lr, float coef, std::int64_t i0, std::int64_t i1) {
  switch (cfg_.kind) {
    case OptimizerKind::Sgd: {
      const float wd = static_cast<float>(cfg_.weight_decay);
      if (wd == 0.0f)
        for (std::int64_t i = i0; i < i1; ++i) params[i] -= lr * (grads[i] * coef);
      else
        for (std::int64_t i = i0; i < i1; ++i) params[i] -= lr * (grads[i] * coef + wd * params[i]);
      break;
    }
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW: {
      const float b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
      const double bc1 = 1.0 - std::pow(cfg_.beta1, double(t_)), bc2 = 1.0 - std::pow(cfg_.beta2, double(t_));
      const float step_size = static_cast<float>(lr / bc1);
      const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
      const float eps = static_cast<float>(cfg_.eps), wd = static_cast<float>(cfg_.weight_decay);
      const bool decoupled = cfg_.kind == OptimizerKind::AdamW;
      float* m = m_.data();
      float* v = v_.data();
      for (std::int64_t i = i0; i < i1; ++i) {
        float g = grads[i] * coef;
        if (decoupled) params[i] *= 1.0f - lr * wd;
        else if (wd != 0.0f) g += wd * params[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
        params[i] -= step_size * m[i] / denom;
      }
      break;
    }
  }
}

void OptimizerConfig::validate() const {
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
    throw_usage("weight decay must be a number >= 0 (got " + std::to_string(weight_decay) + ")");
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    throw_usage("Adam's betas must be in [0, 1) (got " + std::to_string(beta1) + ", " + std::to_string(beta2) + ")");
  if (!(eps > 0) || !std::isfinite(eps)) throw_usage("Adam's eps must be > 0 (got " + std::to_string(eps) + ")");
}

}  // namespace wordlm
