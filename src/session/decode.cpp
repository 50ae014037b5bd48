#include "session/decode.hpp"

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

std::span<const float> DecodeSession::feed(std::span<const std::int32_t> tokens) {
  if (tokens.empty()) throw_usage("no tokens to feed");
  const auto n = static_cast<std::int64_t>(tokens.size());
  model_->forward(tokens.data(), n, st_, *pool_,
                  out_ == Output::LogProbs ? InferenceModel::Post::LogSoftmax : InferenceModel::Post::Logits);
  pos_ += n;
  last_rows_ = n;
  return next();
}

std::span<const float> DecodeSession::next() const {
  if (last_rows_ == 0) return {};
  const std::int64_t V = model_->config().vocab_size;
  return {st_.output() + (last_rows_ - 1) * V, static_cast<std::size_t>(V)};
}

}  // namespace wordlm
