// Sampler: candidates are (z, id) pairs ordered by z descending then id ascending ("before").
#include "session/sampler.hpp"

#include <algorithm>
#include <bit>
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
  auto worse_on_top = [](const Cand& a, const Cand& b) { return before(a, b); };
  cand_.clear();
  std::int64_t i = 0;
  for (; i < V && cand_.size() < k; ++i)  // the heap holds raw logits (same order as logits / T)
    if (!std::isnan(logits[i])) cand_.push_back({logits[i], static_cast<std::int32_t>(i)});
  std::make_heap(cand_.begin(), cand_.end(), worse_on_top);
  float worst = cand_.empty() ? INFINITY : cand_.front().z;
  for (; i < V; ++i) {
    const float z = logits[i];
    if (!(z > worst)) continue;  // most tokens: one comparison (an equal logit loses: its id is higher); NaN too
    std::pop_heap(cand_.begin(), cand_.end(), worse_on_top);
    cand_.back() = {z, static_cast<std::int32_t>(i)};
    std::push_heap(cand_.begin(), cand_.end(), worse_on_top);
    worst = cand_.front().z;
  }
  std::sort(cand_.begin(), cand_.end(), [](const Cand& a, const Cand& b) { return before(a, b); });
  const float inv_t = static_cast<float>(1.0 / o_.temperature);
  for (Cand& c : cand_) c.z *= inv_t;
}

// Every token; the exponentials by the vector kernel (the whole vocabulary is the costly case).
// A NaN logit makes the sum NaN, which sample() refuses.
void Sampler::all(const float* logits, std::int64_t V) {
  const float inv_t = static_cast<float>(1.0 / o_.temperature);
  buf_.resize(static_cast<std::size_t>(V));
  float* z = buf_.data();
  for (std::int64_t i = 0; i < V; ++i) z[i] = logits[i] * inv_t;
  const auto& k = kernels::active();
  const float mx = k.max(z, V);
  if (!std::isfinite(mx)) throw_data("no finite logit to sample from: the model's weights are broken");
  k.exp_scale_store(z, V, mx, 1.0f);
  cand_.resize(static_cast<std::size_t>(V));
  for (std::int64_t i = 0; i < V; ++i) cand_[static_cast<std::size_t>(i)] = {z[i], static_cast<std::int32_t>(i)};
}

// Keeps the smallest "before"-prefix whose probability mass reaches top_p (z already holds the
// unnormalized probabilities, all >= 0). Radix select on the float bits (for non-negative floats
// the bit pattern orders like the value): a 256-bucket histogram of the mass by the top 9 bits
// (sign + exponent) finds the bucket where the mass from the top reaches p; everything above it
// is kept; the boundary bucket is refined by the next 8 and 8 bits, and what is left is sorted
// (ties by id). Linear, branch-light passes: nth_element on 10k candidates cost ~200 us a
// token (mispredicted branches), this ~15 us (BM_sampler).
void Sampler::nucleus() {
  double t4[4] = {0, 0, 0, 0};
  const std::size_t n4 = cand_.size() / 4 * 4;
  for (std::size_t i = 0; i < n4; i += 4)
    for (int l = 0; l < 4; ++l) t4[l] += cand_[i + static_cast<std::size_t>(l)].z;
  for (std::size_t i = n4; i < cand_.size(); ++i) t4[0] += cand_[i].z;
  const double total = (t4[0] + t4[1]) + (t4[2] + t4[3]);
  if (!(total > 0) || !std::isfinite(total)) throw_data("the next-token distribution is not finite: the model is broken");
  double need = o_.top_p * total;
  std::vector<Cand>& kept = kept_;
  std::vector<Cand>& rest = rest_;
  kept.clear();
  rest.assign(cand_.begin(), cand_.end());
  double mass[256];
  for (int shift : {23, 15, 7}) {
    if (rest.size() <= 64) break;
    std::fill(std::begin(mass), std::end(mass), 0.0);
    auto bucket = [shift](const Cand& c) { return (std::bit_cast<std::uint32_t>(c.z) >> shift) & 0xFFu; };
    for (const Cand& c : rest) mass[bucket(c)] += c.z;
    unsigned b = 255;
    double acc = 0;
    while (b > 0 && acc + mass[b] < need) acc += mass[b--];
    need -= acc;
    std::size_t n = 0;
    for (const Cand& c : rest) {
      const unsigned cb = bucket(c);
      if (cb > b) kept.push_back(c);
      else if (cb == b) rest[n++] = c;
    }
    rest.resize(n);
  }
  std::sort(rest.begin(), rest.end(), [](const Cand& a, const Cand& b) { return before(a, b); });
  auto it = rest.begin();
  while (it != rest.end() && (need > 0 || kept.empty())) need -= it->z, kept.push_back(*it++);
  cand_.swap(kept);
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

// Plain temperature sampling over the whole vocabulary, the common case, without storing the
// distribution: the max, then for each 256-token block the sum of its exponentials (the exp_sum
// kernel, vectorized, summing in registers); the draw finds its block from the block sums and
// only that block's 256 exponentials are computed. At T = 1 the logits are read in place.
// (A first version stored all V exponentials and summed them in one running double: ~25 us a
// token for V = 10k, a quarter of a decode step of the small model; this one: see
// docs/benchmarks.md, BM_sampler.)
std::int32_t Sampler::sample_all(const float* logits, std::int64_t V) {
  constexpr std::int64_t kBlock = 256;
  const float inv_t = static_cast<float>(1.0 / o_.temperature);
  const float* p = logits;
  if (inv_t != 1.0f) {
    buf_.resize(static_cast<std::size_t>(V));
    for (std::int64_t i = 0; i < V; ++i) buf_[static_cast<std::size_t>(i)] = logits[i] * inv_t;
    p = buf_.data();
  }
  const auto& k = kernels::active();
  const float mx = k.max(p, V);
  if (!std::isfinite(mx)) throw_data("no finite logit to sample from: the model's weights are broken");
  const std::int64_t nb = (V + kBlock - 1) / kBlock;
  block_.resize(static_cast<std::size_t>(nb));
  double total = 0;
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::int64_t i0 = b * kBlock, n = std::min(V - i0, kBlock);
    total += block_[static_cast<std::size_t>(b)] = k.exp_sum(p + i0, n, mx);
  }
  if (!(total > 0) || !std::isfinite(total)) throw_data("the next-token distribution is not finite: the model is broken");
  const double u = rng_.uniform_double() * total;
  double acc = 0;
  std::int64_t b = 0;
  while (b + 1 < nb && acc + block_[static_cast<std::size_t>(b)] <= u) acc += block_[static_cast<std::size_t>(b++)];
  const std::int64_t i0 = b * kBlock, n = std::min(V - i0, kBlock);
  float e[kBlock];
  std::copy(p + i0, p + i0 + n, e);
  k.exp_scale_store(e, n, mx, 1.0f);
  std::int64_t last = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (e[i] > 0) last = i;
    acc += e[i];
    if (u < acc) return static_cast<std::int32_t>(i0 + i);
  }
  // the block's own sum rounded a little differently from its exp_sum: u fell just past it
  return static_cast<std::int32_t>(last >= 0 ? i0 + last : argmax(p, V));
}

std::int32_t Sampler::sample(const float* logits, std::int64_t V) {
  if (o_.greedy) {
    const std::int64_t i = argmax(logits, V);
    if (i < 0) throw_data("every logit is NaN: the model's weights are broken");
    return static_cast<std::int32_t>(i);
  }
  const bool use_k = o_.top_k > 0 && o_.top_k < V;
  if (!use_k && o_.top_p >= 1) {
    cand_.clear();
    return sample_all(logits, V);
  }
  if (use_k) {
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
