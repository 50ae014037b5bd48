// wordlm: the library applications embed. Load a checkpoint (fp32, int8 or mixed, as written by
// lm-train and lm-quantize), score sentences, run a stateful session that takes tokens and
// returns the next-token log-probabilities, and generate text with a sampler.
//
// Threads: a Model is immutable once loaded and may be shared by any number of threads; copies
// of a Model are cheap handles to the same weights. A Session holds its own state and threads and
// is used by one thread at a time. Results do not depend on the thread counts you choose.
//
// Errors: every failure throws wordlm::Error (wordlm/error.hpp); kind() says what went wrong.
//
//   #include <wordlm/wordlm.hpp>
//   auto model = wordlm::api::Model::load("small.int8.safetensors");
//   double lp = model.score({"the market rose"})[0].logprob;     // natural log
//   wordlm::api::Session s(model);
//   s.feed_text("the market");
//   std::string more = s.generate(10, {.temperature = 0.8, .seed = 1});
//
// Link with find_package(wordlm) -> wordlm::wordlm, or pkg-config wordlm.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wordlm/error.hpp"

namespace wordlm::api {

// The library's version, e.g. "0.1.0".
const char* version() noexcept;

struct ScoreOptions {
  bool score_eos = true;     // also score the closing <eos> of each sentence
  bool per_token = false;    // fill SentenceScore::token_logprobs
  int threads = 1;           // threads of the forward pass
  std::int64_t batch = 64;   // sentences run together (grouped by length)
};

struct SentenceScore {
  std::int64_t tokens = 0;   // predicted tokens: the words, + 1 for <eos> when scored
  double logprob = 0;        // natural-log probability of the sentence given a sentence start
  std::int64_t oov = 0;      // words not in the vocabulary (scored as <unk>)
  std::vector<float> token_logprobs;  // one per predicted token, with per_token
  double ppl() const;        // exp(-logprob / tokens); NaN for 0 tokens
};

struct SamplerOptions {
  double temperature = 1.0;  // > 0
  bool greedy = false;       // argmax instead of sampling
  std::int64_t top_k = 0;    // 0: off
  double top_p = 1.0;        // 1: off
  std::uint64_t seed = 0;    // the same seed, settings and model give the same text
};

class Model {
 public:
  // Reads and checks a checkpoint. Throws Error (NoInput, Data) if it cannot be used.
  static Model load(const std::string& path);

  std::int64_t vocab_size() const noexcept;
  std::int32_t token_id(std::string_view word) const;  // -1 if not in the vocabulary
  const std::string& word(std::int32_t id) const;      // throws Usage outside 0..vocab_size()-1
  std::int32_t eos_id() const noexcept;
  std::int32_t unk_id() const noexcept;                // -1 if the vocabulary has none
  // Whitespace-separated words -> ids; unknown words become <unk> (counted in *unknown).
  // Throws Data for invalid UTF-8 or a NUL byte, or an unknown word without <unk>.
  std::vector<std::int32_t> encode(std::string_view text, std::int64_t* unknown = nullptr) const;
  std::string describe() const;  // e.g. "int8 | 2x200, V=10000 ..."

  // One score per sentence, in order; each from a fresh state with <eos> as its start context.
  std::vector<SentenceScore> score(std::span<const std::string> sentences, const ScoreOptions& opt = {}) const;
  std::vector<SentenceScore> score(std::initializer_list<std::string> sentences, const ScoreOptions& opt = {}) const {
    return score(std::span<const std::string>(sentences.begin(), sentences.size()), opt);
  }

  struct Impl;  // the library's internals
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Draws token ids from next-token log-probabilities (or logits); deterministic for a seed.
class Sampler {
 public:
  explicit Sampler(const SamplerOptions& opt);  // throws Usage for invalid settings
  ~Sampler();
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;
  std::int32_t sample(std::span<const float> logprobs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One stream of text: feed tokens, read the next-token distribution, generate.
class Session {
 public:
  explicit Session(const Model& model, int threads = 1);
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  void reset();  // forget everything fed (the zero state)
  // Runs the tokens through the model (one batched pass) and returns the log-probabilities of
  // the next token (vocab_size() values), valid until the next call.
  std::span<const float> feed(std::span<const std::int32_t> tokens);
  std::span<const float> feed_text(std::string_view text);  // encode() then feed()
  std::span<const float> next_logprobs() const;             // of the last feed (empty before any)
  std::int64_t position() const noexcept;                   // tokens fed since reset()

  // Generates up to n tokens from the current state (a fresh session starts at a sentence
  // start), feeding each back; on_word (optional) sees each word as it is drawn ("<eos>" for the
  // end of a sentence) and returns false to stop. Returns the text: words separated by spaces,
  // each <eos> as a newline.
  std::string generate(std::int64_t n, const SamplerOptions& opt,
                       const std::function<bool(std::string_view word)>& on_word = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wordlm::api
