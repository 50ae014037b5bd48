// Summary statistics for reports: mean, sample standard deviation, percentiles (linear
// interpolation between closest ranks, as numpy's default), and perplexity with its error bar
// computed the way llama-perplexity does (from the per-token NLL variance).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "nlohmann/json_fwd.hpp"

namespace wordlm {

struct Summary {
  std::size_t n = 0;
  double mean = 0, sd = 0, min = 0, max = 0, median = 0, p90 = 0, p99 = 0;
};

double mean_of(std::span<const double> v);
double sample_sd(std::span<const double> v);     // sqrt(sum (x - mean)^2 / (n - 1)); 0 when n < 2
double percentile(std::vector<double> v, double q);  // q in [0, 100]; v copied and sorted
Summary summarize(std::span<const double> v);
nlohmann::json to_json(const Summary& s, bool with_samples = false, std::span<const double> samples = {});

// Running NLL accumulator: ppl = exp(mean), error = ppl * sqrt(var / (N - 1)) with
// var = E[nll^2] - E[nll]^2 (llama.cpp perplexity.cpp "Final estimate: PPL = x +/- y").
struct NllStats {
  double sum = 0, sum2 = 0;
  std::int64_t n = 0;
  void add(double nll) { sum += nll, sum2 += nll * nll, ++n; }
  double mean() const { return n ? sum / double(n) : 0.0; }
  double ppl() const;
  double ppl_err() const;
  double mean_err() const;  // standard error of the mean NLL
};

}  // namespace wordlm
