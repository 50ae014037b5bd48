// A synthetic corpus from a known random first-order Markov source, so the best achievable
// perplexity is known exactly: the source's own NLL on the generated text. Used by the training
// test (an LSTM must get close to it) and as the main job's offline fallback corpus (a smoke
// test only: it says nothing about quality on real text).
//
// Words are "w1".."w{V-1}" plus <eos>; every state (previous word, <eos> at a sentence start)
// has `fanout` successors drawn at random with Zipf-like weights, and ends the sentence with
// probability eos_prob.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "nlohmann/json_fwd.hpp"

namespace wordlm {

struct SynthOptions {
  std::int64_t vocab = 2000;  // including <eos>
  std::int64_t fanout = 24;
  double zipf = 1.0;
  double eos_prob = 0.06;
  std::int64_t train_tokens = 1000000, valid_tokens = 80000, test_tokens = 80000;
  std::uint64_t seed = 1;
};

class MarkovSource {
 public:
  explicit MarkovSource(const SynthOptions& o);
  std::int64_t vocab() const noexcept { return V_; }
  static constexpr std::int32_t kEos = 0;
  std::string word(std::int32_t id) const;  // 0 -> "<eos>", k -> "w<k>"
  std::int32_t sample(std::int32_t prev, Rng& rng) const;
  double logprob(std::int32_t prev, std::int32_t next) const;  // -inf if impossible

 private:
  std::int64_t V_;
  std::vector<std::vector<std::int32_t>> next_;  // per state: successor ids
  std::vector<std::vector<double>> prob_;        // matching probabilities (sum 1)
};

// Writes out_dir/{train,valid,test}.txt and returns counts, hashes, and the source's exact NLL
// per token on each split ({"splits": {name: {"tokens","lines","sha256","source_nll","source_ppl"}}}).
nlohmann::json generate_synth(const std::string& out_dir, const SynthOptions& o);

}  // namespace wordlm
