// Sampler: candidates are (z, id) pairs ordered by z descending then id ascending ("before").
#include "session/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.hpp"
#include "fmt/format.h"
#include "kernels/kernels.hpp"

namespace wordlm {

namespace {
template <class C>
bool before(const C& a, const C& b) {
  return a.z > b.z || (a.z == b.z && a.id < b.id);
}
}  // namespace

void check_sampler_options(const SamplerOptions& o) {
  if (!(o.temperature > 0) || !std::isfinite(o.temperature))
    throw_usage(fmt::format("temperature must be a positive number (got {}); use greedy decoding for argmax", o.temperature));
  if (o.top_k < 0) throw_usage("top-k must be 0 (off) or positive");
  if (!(o.top_p > 0 && o.top_p <= 1)) throw_usage(fmt::format("top-p must be in (0, 1] (got {})", o.top_p));
}

std::int64_t argmax(const float* x, std::int64_t n) {
  std::int64_t best = -1;
  for (std::int64_t i = 0; i < n; ++i)
    if (!std::isnan(x[i]) && (best < 0 || x[i] > x[best])) best = i;
  return best;
}

Sampler::Sampler(const SamplerOptions& o) : o_(o), rng_(o.seed) { check_sampler_options(o); }

// The k best by a min-heap on "before": the heap top is the worst kept candidate, and most tokens
// lose against it with one comparison.
void Sampler::top_k(const float* logits, std::int64_t V) {
  const auto k = static_cast<std::size_t>(o_.top_k);
  const float inv_t = static_cast<float>(1.0 / o_.temperature);
  auto worse_on_top = [](const Cand& a, const Cand& b) { return before(a, b); };
  cand_.clear();
  for (std::int64_t i = 0; i < V; ++i) {
    const float z = logits[i];
    if (std::isnan(z)) continue;
    const Cand c{z * inv_t, static_cast<std::int32_t>(i)};
    if (cand_.size() < k) {
      cand_.push_back(c);
      std::push_heap(cand_.begin(), cand_.end(), worse_on_top);
    } else if (before(c, cand_.front())) {
      std::pop_heap(cand_.begin(), cand_.end(), worse_on_top);
      cand_.back() = c;
      std::push_heap(cand_.begin(), cand_.end(), worse_on_top);
    }
  }
  std::sort(cand_.begin(), cand_.end(), [](const Cand& a, const Cand& b) { return before(a, b); });
}

// Every token; the exponentials by the vector kernel (the whole vocabulary is the costly case).
void Sampler::all(const float* logits, std::int64_t V) {
  const float inv_t = static_cast<float>(1.0 / o_.temperature);
  buf_.resize(static_cast<std::size_t>(V));
  float mx = -INFINITY;
  for (std::int64_t i = 0; i < V; ++i) {
    const float z = logits[i] * inv_t;
    buf_[static_cast<std::size_t>(i)] = z;
    if (z > mx) mx = z;  // NaN never wins
  }
  if (!std::isfinite(mx)) throw_data("no finite logit to sample from: the model's weights are broken");
  for (float& z : buf_) z = std::isnan(z) ? -INFINITY : z - mx;
  kernels::active().exp(buf_.data(), buf_.data(), V);
  cand_.resize(static_cast<std::size_t>(V));
  for (std::int64_t i = 0; i < V; ++i) cand_[static_cast<std::size_t>(i)] = {buf_[static_cast<std::size_t>(i)], static_cast<std::int32_t>(i)};
}

// Keeps the smallest "before"-prefix whose probability mass reaches top_p (z already holds the
// unnormalized probabilities). Quickselect on the mass: partition around a middle element; if the
// part before it (with it) already reaches the remaining mass, continue inside it, else keep it and
// continue after it. Expected linear time; the kept prefix ends sorted.
void Sampler::nucleus() {
  double total = 0;
  for (const Cand& c : cand_) total += c.z;
  double need = o_.top_p * total;
  auto lo = cand_.begin(), hi = cand_.end();
  auto cmp = [](const Cand& a, const Cand& b) { return before(a, b); };
  while (hi - lo > 16) {
    auto mid = lo + (hi - lo) / 2;
    std::nth_element(lo, mid, hi, cmp);
    double s = 0;
    for (auto it = lo; it <= mid; ++it) s += it->z;
    if (s >= need) {
      hi = mid + 1;
    } else {
      need -= s;
      lo = mid + 1;
    }
  }
  std::sort(lo, hi, cmp);
  auto end = lo;
  while (end < hi && need > 0) need -= (end++)->z;
  if (end == cand_.begin()) ++end;  // always keep at least one token
  cand_.erase(end, cand_.end());
  std::sort(cand_.begin(), cand_.end(), cmp);
}

std::vector<std::int32_t> Sampler::last_candidates() const {
  std::vector<std::int32_t> ids;
  ids.reserve(cand_.size());
  for (const Cand& c : cand_) ids.push_back(c.id);
  return ids;
}

std::int32_t Sampler::draw() {
  double total = 0;
  for (const Cand& c : cand_) total += c.z;
  const double u = rng_.uniform_double() * total;
  double acc = 0;
  for (const Cand& c : cand_) {
    acc += c.z;
    if (u < acc) return c.id;
  }
  return cand_.back().id;
}

std::int32_t Sampler::sample(const float* logits, std::int64_t V) {
  if (o_.greedy) {
    const std::int64_t i = argmax(logits, V);
    if (i < 0) throw_data("every logit is NaN: the model's weights are broken");
    return static_cast<std::int32_t>(i);
  }
  if (o_.top_k > 0 && o_.top_k < V) {
    top_k(logits, V);
    if (cand_.empty() || !std::isfinite(cand_[0].z))
      throw_data("no finite logit to sample from: the model's weights are broken");
    const float mx = cand_[0].z;  // sorted: the first is the largest
    for (Cand& c : cand_) c.z = std::exp(c.z - mx);
  } else {
    all(logits, V);
  }
  if (o_.top_p < 1) nucleus();
  return draw();
}

}  // namespace wordlm
