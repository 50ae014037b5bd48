// The public API (include/wordlm/wordlm.hpp): a thin facade over the checkpoint reader, the
// InferenceModel and the session layer. Nothing here adds model logic.
#include "wordlm/wordlm.hpp"

#include <cmath>

#include "core/buildinfo.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "data/vocab.hpp"
#include "fmt/format.h"
#include "io/checkpoint.hpp"
#include "model/infer.hpp"
#include "session/decode.hpp"
#include "session/generate.hpp"
#include "session/sampler.hpp"
#include "session/score.hpp"

namespace wordlm::api {

const char* version() noexcept { return build::kVersion; }

double SentenceScore::ppl() const { return tokens > 0 ? std::exp(-logprob / double(tokens)) : NAN; }

struct Model::Impl {
  ModelConfig config;
  Vocab vocab;
  InferenceModel model;
};

Model Model::load(const std::string& path) {
  Checkpoint ck = load_checkpoint(path);
  auto impl = std::make_shared<Impl>(Impl{ck.config, Vocab(ck.vocab), InferenceModel::from_checkpoint(ck)});
  if (impl->vocab.eos_id() < 0) throw_data(path + ": the vocabulary has no <eos>");
  return Model(std::move(impl));
}

std::int64_t Model::vocab_size() const noexcept { return impl_->config.vocab_size; }
std::int32_t Model::token_id(std::string_view word) const { return impl_->vocab.find(word).value_or(-1); }
const std::string& Model::word(std::int32_t id) const {
  if (id < 0 || id >= impl_->vocab.size()) throw_usage(fmt::format("token id {} outside the vocabulary", id));
  return impl_->vocab.word(id);
}
std::int32_t Model::eos_id() const noexcept { return impl_->vocab.eos_id(); }
std::int32_t Model::unk_id() const noexcept { return impl_->vocab.unk_id(); }
std::string Model::describe() const { return impl_->model.describe() + " | " + impl_->config.describe(); }

std::vector<std::int32_t> Model::encode(std::string_view text, std::int64_t* unknown) const {
  Encoded e;
  if (auto bad = encode_line(impl_->vocab, text, false, e))
    throw_data(fmt::format("text at byte {}: {}", bad->column, bad->what));
  if (unknown) *unknown = e.unknown;
  return std::move(e.ids);
}

std::vector<SentenceScore> Model::score(std::span<const std::string> sentences, const ScoreOptions& opt) const {
  if (opt.threads < 1) throw_usage("threads must be at least 1");
  std::vector<std::vector<std::int32_t>> ids(sentences.size());
  std::vector<std::int64_t> oov(sentences.size());
  for (std::size_t i = 0; i < sentences.size(); ++i) ids[i] = encode(sentences[i], &oov[i]);
  ThreadPool pool(opt.threads);
  wordlm::ScoreOptions so;
  so.eos_id = impl_->vocab.eos_id();
  so.batch = opt.batch;
  so.score_eos = opt.score_eos;
  so.per_token = opt.per_token;
  SentenceScorer scorer(impl_->model, pool, so);
  std::vector<wordlm::SentenceScore> r = scorer.score(ids);
  std::vector<SentenceScore> out(r.size());
  for (std::size_t i = 0; i < r.size(); ++i)
    out[i] = {r[i].tokens, r[i].logprob, oov[i], std::move(r[i].token_logprobs)};
  return out;
}

// ---------------------------------------------------------------- Sampler
struct Sampler::Impl {
  wordlm::Sampler s;
};
namespace {
wordlm::SamplerOptions internal(const SamplerOptions& o) {
  return {.temperature = o.temperature, .greedy = o.greedy, .top_k = o.top_k, .top_p = o.top_p, .seed = o.seed};
}
}  // namespace
Sampler::Sampler(const SamplerOptions& opt) : impl_(std::make_unique<Impl>(Impl{wordlm::Sampler(internal(opt))})) {}
Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;
std::int32_t Sampler::sample(std::span<const float> logprobs) {
  if (logprobs.empty()) throw_usage("nothing to sample from");
  return impl_->s.sample(logprobs.data(), static_cast<std::int64_t>(logprobs.size()));
}

// ---------------------------------------------------------------- Session
struct Session::Impl {
  Model model;  // keeps the weights alive
  ThreadPool pool;
  DecodeSession session;
  Impl(const Model& m, int threads) : model(m), pool(threads), session(m.impl().model, pool) {}
};

Session::Session(const Model& model, int threads) {
  if (threads < 1) throw_usage("threads must be at least 1");
  impl_ = std::make_unique<Impl>(model, threads);
}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::reset() { impl_->session.reset(); }
std::span<const float> Session::feed(std::span<const std::int32_t> tokens) { return impl_->session.feed(tokens); }
std::span<const float> Session::feed_text(std::string_view text) {
  const std::vector<std::int32_t> ids = impl_->model.encode(text);
  if (ids.empty()) throw_usage("the text has no words to feed");
  return feed(ids);
}
std::span<const float> Session::next_logprobs() const { return impl_->session.next(); }
std::int64_t Session::position() const noexcept { return impl_->session.position(); }

std::string Session::generate(std::int64_t n, const SamplerOptions& opt,
                              const std::function<bool(std::string_view word)>& on_word) {
  if (n < 0) throw_usage("the number of tokens to generate must not be negative");
  wordlm::Sampler sampler(internal(opt));
  const std::int32_t eos = impl_->model.eos_id();
  if (position() == 0) feed({&eos, 1});  // a fresh session starts at a sentence start
  std::string text;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::span<const float> lp = next_logprobs();
    const std::int32_t id = sampler.sample(lp.data(), static_cast<std::int64_t>(lp.size()));
    feed({&id, 1});
    const std::string& w = impl_->model.word(id);
    if (id == eos) {
      text += '\n';
    } else {
      if (!text.empty() && text.back() != '\n') text += ' ';
      text += w;
    }
    if (on_word && !on_word(w)) break;
  }
  return text;
}

}  // namespace wordlm::api
