// SentenceScorer and StreamScorer.
#include "session/score.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace wordlm {

namespace {
std::int32_t eos_of(const InferenceModel& m, const ScoreOptions& opt) {
  if (opt.batch < 1) throw_usage("the scoring batch size must be at least 1");
  if (opt.window < 1) throw_usage("the scoring window must be at least 1 step");
  if (opt.eos_id < 0 || opt.eos_id >= m.config().vocab_size) throw_usage("the vocabulary has no <eos> to score with");
  return opt.eos_id;
}
}  // namespace

// ---------------------------------------------------------------- SentenceScorer
SentenceScorer::SentenceScorer(const InferenceModel& model, ThreadPool& pool, const ScoreOptions& opt)
    : model_(model), pool_(pool), opt_(opt), eos_(eos_of(model, opt)) {}

std::vector<SentenceScore> SentenceScorer::score(std::span<const std::vector<std::int32_t>> sentences) {
  std::vector<SentenceScore> out(sentences.size());
  std::vector<std::size_t> order(sentences.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return sentences[a].size() > sentences[b].size(); });
  const auto B = static_cast<std::size_t>(opt_.batch);
  for (std::size_t i = 0; i < order.size(); i += B)
    run_batch(sentences, std::span<const std::size_t>(order).subspan(i, std::min(B, order.size() - i)), out);
  return out;
}

// One batch of sentences (row b = sentences[rows[b]]), in windows of steps. Step s of a sentence of
// n words reads <eos> (s = 0) or word s-1 and predicts word s (or <eos> at s = n); rows past their
// end are padded with <eos> and their outputs ignored.
void SentenceScorer::run_batch(std::span<const std::vector<std::int32_t>> sentences, std::span<const std::size_t> rows,
                               std::vector<SentenceScore>& out) {
  const auto B = static_cast<std::int64_t>(rows.size());
  const std::int64_t extra = opt_.score_eos ? 1 : 0;
  std::int64_t T = 0;
  for (std::size_t r : rows) T = std::max(T, static_cast<std::int64_t>(sentences[r].size()) + extra);
  if (T == 0) return;  // only empty sentences and no <eos> to score
  st_.reset(model_.config(), B);
  const std::int64_t W = std::min(opt_.window, T);
  in_.resize(static_cast<std::size_t>(W * B));
  tgt_.resize(static_cast<std::size_t>(W * B));
  nll_.resize(static_cast<std::size_t>(W * B));
  for (std::int64_t t0 = 0; t0 < T; t0 += W) {
    const std::int64_t n = std::min(W, T - t0);
    for (std::int64_t b = 0; b < B; ++b) {
      const auto& w = sentences[rows[static_cast<std::size_t>(b)]];
      const auto len = static_cast<std::int64_t>(w.size());
      for (std::int64_t t = 0; t < n; ++t) {
        const std::int64_t s = t0 + t;
        const auto k = static_cast<std::size_t>(t * B + b);
        const bool live = s < len + extra;
        in_[k] = live && s > 0 ? w[static_cast<std::size_t>(s - 1)] : eos_;
        tgt_[k] = live && s < len ? w[static_cast<std::size_t>(s)] : eos_;
      }
    }
    model_.forward(in_.data(), n, st_, pool_, InferenceModel::Post::Nll, tgt_.data(), nll_.data());
    for (std::int64_t b = 0; b < B; ++b) {
      SentenceScore& sc = out[rows[static_cast<std::size_t>(b)]];
      const std::int64_t live = static_cast<std::int64_t>(sentences[rows[static_cast<std::size_t>(b)]].size()) + extra;
      for (std::int64_t t = 0; t < n && t0 + t < live; ++t) {
        const double nll = nll_[static_cast<std::size_t>(t * B + b)];
        sc.logprob -= nll;
        ++sc.tokens;
        if (opt_.per_token) sc.token_logprobs.push_back(static_cast<float>(-nll));
      }
    }
  }
}

// ---------------------------------------------------------------- StreamScorer
StreamScorer::StreamScorer(const InferenceModel& model, ThreadPool& pool, const ScoreOptions& opt)
    : model_(model), pool_(pool), opt_(opt), eos_(eos_of(model, opt)) {
  st_.reset(model_.config(), 1);
}

void StreamScorer::add(const std::vector<std::int32_t>& words, const std::function<void(SentenceScore&&)>& on_done) {
  const auto line = first_line_ + static_cast<std::int64_t>(lines_.size());
  lines_.emplace_back();
  left_.push_back(0);
  auto push = [&](std::int32_t id) {
    pending_.push_back(id);
    if (!started_) {  // the stream's first token is context only
      started_ = true;
      return;
    }
    line_of_.push_back(line);
    ++left_.back();
  };
  for (std::int32_t id : words) push(id);
  push(eos_);
  while (static_cast<std::int64_t>(pending_.size()) - 1 >= opt_.window) run(opt_.window, on_done);
  run(0, on_done);  // reports a line with nothing left to predict
}

void StreamScorer::finish(const std::function<void(SentenceScore&&)>& on_done) {
  run(static_cast<std::int64_t>(pending_.size()) - 1, on_done);
}

void StreamScorer::run(std::int64_t n, const std::function<void(SentenceScore&&)>& on_done) {
  if (n > 0) {
    nll_.resize(static_cast<std::size_t>(n));
    model_.forward(pending_.data(), n, st_, pool_, InferenceModel::Post::Nll, pending_.data() + 1, nll_.data());
    for (std::int64_t i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(line_of_[static_cast<std::size_t>(i)] - first_line_);
      const double nll = nll_[static_cast<std::size_t>(i)];
      lines_[k].logprob -= nll;
      ++lines_[k].tokens;
      if (opt_.per_token) lines_[k].token_logprobs.push_back(static_cast<float>(-nll));
      --left_[k];
    }
    pending_.erase(pending_.begin(), pending_.begin() + n);  // pending_[n] stays as the next context
    line_of_.erase(line_of_.begin(), line_of_.begin() + n);
  }
  while (!lines_.empty() && left_.front() == 0) {
    on_done(std::move(lines_.front()));
    lines_.pop_front();
    left_.pop_front();
    ++first_line_;
  }
}

}  // namespace wordlm
