#include "session/decode.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace wordlm {

DecodeSession::DecodeSession(const InferenceModel& model, ThreadPool& pool, Output out)
    : model_(&model), pool_(&pool), out_(out) {
  reset();
}

void DecodeSession::reset() {
  st_.reset(model_->config(), 1);
  pos_ = 0;
  last_rows_ = 0;
}

// A long context runs in windows of kWindow steps (the state carried), so the workspace holds
// kWindow x V logits at most, whatever the prompt's length (a 100k-word prompt in one pass would
// need 4 GB of logits for a 10k vocabulary); the result does not depend on the split.
std::span<const float> DecodeSession::feed(std::span<const std::int32_t> tokens) {
  constexpr std::int64_t kWindow = 256;
  if (tokens.empty()) throw_usage("no tokens to feed");
  const auto n = static_cast<std::int64_t>(tokens.size());
  for (std::int64_t t0 = 0; t0 < n; t0 += kWindow) {
    const std::int64_t len = std::min(kWindow, n - t0);
    model_->forward(tokens.data() + t0, len, st_, *pool_,
                    out_ == Output::LogProbs ? InferenceModel::Post::LogSoftmax : InferenceModel::Post::Logits);
    last_rows_ = len;
  }
  pos_ += n;
  return next();
}

std::span<const float> DecodeSession::next() const {
  if (last_rows_ == 0) return {};
  const std::int64_t V = model_->config().vocab_size;
  return {st_.output() + (last_rows_ - 1) * V, static_cast<std::size_t>(V)};
}

}  // namespace wordlm
