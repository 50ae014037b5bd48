// Next-token sampling for generation: temperature, greedy (argmax), top-k and top-p (nucleus),
// from a deterministic generator. The draw depends only on the logits, the settings and the
// seed, never on threads (the sampler is single-threaded and the model's logits do not depend
// on the thread count), so a seed reproduces a text byte for byte.
//
// Cost is linear in the vocabulary: top-k keeps a k-entry heap (one comparison per token in the
// common case), top-p finds the nucleus by quickselect partitions (no full sort); only the kept
// candidates are ever sorted. Ties are broken by the lower token id, so the candidate set is
// unique.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.hpp"

namespace wordlm {

struct SamplerOptions {
  double temperature = 1.0;  // > 0; logits are divided by it
  bool greedy = false;       // argmax (lowest id among equal maxima); the other settings are unused
  std::int64_t top_k = 0;    // keep the k most likely tokens (0: all)
  double top_p = 1.0;        // keep the smallest set whose probability reaches p (1: all)
  std::uint64_t seed = 0;
};

// Throws Usage for a temperature <= 0 or not finite, top_k < 0, or top_p outside (0, 1].
void check_sampler_options(const SamplerOptions& o);

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& o);
  // A token id drawn from softmax(logits / T) restricted to the top-k / top-p set. logits (V) may
  // be log-probabilities as well (the draw is shift-invariant up to rounding). Throws Data if
  // every logit is NaN or -Inf.
  std::int32_t sample(const float* logits, std::int64_t V);
  const SamplerOptions& options() const noexcept { return o_; }
  // The ids the last sample() drew from with top-k or top-p, as a set (else empty). For tests.
  std::vector<std::int32_t> last_candidates() const;

 private:
  struct Cand {
    float z;  // logit / T, then the unnormalized probability
    std::int32_t id;
  };
  void top_k(const float* logits, std::int64_t V);
  void all(const float* logits, std::int64_t V);
  void nucleus();
  std::int32_t sample_all(const float* logits, std::int64_t V);
  std::int32_t draw();

  SamplerOptions o_;
  Rng rng_;
  std::vector<Cand> cand_;  // (n) the candidates kept
  std::vector<Cand> kept_, rest_;  // nucleus(): kept so far, the boundary bucket
  std::vector<float> buf_;  // (V) scaled logits, then exp
  std::vector<double> block_;  // (V / 256) sums of exp(z - max) per block of 256 tokens
};

// The index of the largest value, the lowest among equal maxima; NaN never wins.
std::int64_t argmax(const float* x, std::int64_t n);

}  // namespace wordlm
