// DecodeSession: one stream of text over a shared, immutable InferenceModel. feed() runs any
// number of tokens through the batched forward at once (prompt evaluation: one call for the
// whole prompt) and carries the state; the next-token distribution is then ready. A session is
// not thread-safe; many sessions may share one model, each with its own pool or one after the
// other on a shared pool.
#pragma once

#include <cstdint>
#include <span>

#include "core/threads.hpp"
#include "model/infer.hpp"

namespace wordlm {

class DecodeSession {
 public:
  enum class Output { Logits, LogProbs };
  DecodeSession(const InferenceModel& model, ThreadPool& pool, Output out = Output::LogProbs);
  void reset();  // back to the zero state
  // Runs tokens (in order) and returns the next-token logits or log-probabilities (V) after the
  // last one. Throws Usage for an empty span or an id outside the vocabulary.
  std::span<const float> feed(std::span<const std::int32_t> tokens);
  std::span<const float> next() const;  // the last feed()'s result (empty before any)
  std::int64_t position() const noexcept { return pos_; }  // tokens fed since reset()
  const InferenceModel& model() const noexcept { return *model_; }
  const InferenceModel::State& state() const noexcept { return st_; }

 private:
  const InferenceModel* model_;
  ThreadPool* pool_;
  Output out_;
  InferenceModel::State st_;
  std::int64_t pos_ = 0, last_rows_ = 0;
};

}  // namespace wordlm
