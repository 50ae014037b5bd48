// Sentence scoring for batch processing. SentenceScorer scores each sentence from a fresh state
// with <eos> as its start context: sentences are grouped by length into batches of up to
// `batch` rows, padded after their end, and run through the multi-threaded forward in windows of
// at most `window` steps with the state carried (so a sentence of any length fits); results come
// back in input order.
//
// Exactness: every output row of the forward depends only on its own input row (see
// model/infer.hpp), and a sentence's log-probability is summed in token order in double, so its
// score does not depend on its batch neighbours, the padding or the thread count (bit-identical;
// int8 activation scales are per row).
//
// StreamScorer scores running text instead (--carry-state): one stream, the state carried from
// line to line, the very first token only context, exactly as lm-eval scores a file with batch
// size 1; each line's record holds the tokens of that line that were predicted.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <vector>

#include "core/threads.hpp"
#include "model/infer.hpp"

namespace wordlm {

struct ScoreOptions {
  std::int32_t eos_id = -1;   // the vocabulary's <eos>: start context, closing token and padding
  std::int64_t batch = 64;    // sentences per forward
  std::int64_t window = 64;   // steps per forward; longer sentences are run in windows
  bool score_eos = true;      // score the closing <eos> (false: --no-eos)
  bool per_token = false;     // keep each token's log-probability
};

struct SentenceScore {
  std::int64_t tokens = 0;  // predicted tokens (words, + 1 for <eos> when scored)
  double logprob = 0;       // natural log, summed in token order
  std::vector<float> token_logprobs;  // (tokens) with per_token
};

class SentenceScorer {
 public:
  SentenceScorer(const InferenceModel& model, ThreadPool& pool, const ScoreOptions& opt);
  // Scores sentences (word ids, no <eos>) and returns one score per sentence, in input order.
  std::vector<SentenceScore> score(std::span<const std::vector<std::int32_t>> sentences);

 private:
  void run_batch(std::span<const std::vector<std::int32_t>> sentences, std::span<const std::size_t> rows,
                 std::vector<SentenceScore>& out);
  const InferenceModel& model_;
  ThreadPool& pool_;
  ScoreOptions opt_;
  std::int32_t eos_ = 0;
  InferenceModel::State st_;
  std::vector<std::int32_t> in_, tgt_;  // (window, B)
  std::vector<double> nll_;             // (window, B)
};

class StreamScorer {
 public:
  StreamScorer(const InferenceModel& model, ThreadPool& pool, const ScoreOptions& opt);
  // Appends a line (word ids; an <eos> is added) to the running text. Lines whose tokens are all
  // predicted are passed to on_done in order, with their scores.
  void add(const std::vector<std::int32_t>& words, const std::function<void(SentenceScore&&)>& on_done);
  // Scores what is pending and reports every remaining line.
  void finish(const std::function<void(SentenceScore&&)>& on_done);

 private:
  void run(std::int64_t n, const std::function<void(SentenceScore&&)>& on_done);  // predicts pending[1..n]
  const InferenceModel& model_;
  ThreadPool& pool_;
  ScoreOptions opt_;
  std::int32_t eos_ = 0;
  InferenceModel::State st_;
  std::vector<std::int32_t> pending_;    // tokens not yet predicted, preceded by their context token
  std::vector<std::int64_t> line_of_;    // (pending) index into lines_ of each pending token (after the first)
  std::deque<SentenceScore> lines_;      // lines not reported yet (front = oldest)
  std::deque<std::int64_t> left_;        // tokens of each such line still to be predicted
  std::int64_t first_line_ = 0;          // lines_ index 0 is this line of the stream
  bool started_ = false;
  std::vector<double> nll_;
};

}  // namespace wordlm
