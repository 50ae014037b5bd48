// Statistics implementations.
#include "stats/stats.hpp"

#include <algorithm>
#include <cmath>

#include "nlohmann/json.hpp"

namespace wordlm {

double mean_of(std::span<const double> v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double sample_sd(std::span<const double> v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * double(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  const double frac = pos - double(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

Summary summarize(std::span<const double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  s.mean = mean_of(v);
  s.sd = sample_sd(v);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  std::vector<double> c(v.begin(), v.end());
  s.median = percentile(c, 50);
  s.p90 = percentile(c, 90);
  s.p99 = percentile(c, 99);
  return s;
}

nlohmann::json to_json(const Summary& s, bool with_samples, std::span<const double> samples) {
  nlohmann::json j = {{"n", s.n},        {"mean", s.mean}, {"sd", s.sd},   {"median", s.median},
                      {"p90", s.p90},    {"p99", s.p99},   {"min", s.min}, {"max", s.max}};
  if (with_samples) j["samples"] = std::vector<double>(samples.begin(), samples.end());
  return j;
}

double NllStats::ppl() const { return std::exp(mean()); }

double NllStats::mean_err() const {
  if (n < 2) return 0;
  const double m = mean();
  const double var = sum2 / double(n) - m * m;
  return var > 0 ? std::sqrt(var / double(n - 1)) : 0.0;
}

double NllStats::ppl_err() const { return mean_err() * ppl(); }

}  // namespace wordlm
