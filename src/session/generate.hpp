// Text generation: the context (prompt) through the batched forward once, then one token at a
// time with the state carried, each drawn by the Sampler from the last logits. Words leave
// through a callback as soon as they are drawn, so a tool can stream them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "data/lines.hpp"
#include "data/vocab.hpp"
#include "session/decode.hpp"
#include "session/sampler.hpp"

namespace wordlm {

// A line of text as token ids: words not in the vocabulary become <unk> (counted in unknown).
struct Encoded {
  std::vector<std::int32_t> ids;
  std::int64_t unknown = 0;
};
// Appends the words of `line` to out; returns the problem if the line is not valid text or holds
// a word the vocabulary cannot represent (unknown, and no <unk>): the caller names the place.
std::optional<LineProblem> encode_line(const Vocab& vocab, std::string_view line, bool lowercase, Encoded& out);

struct GenerateOptions {
  std::int64_t tokens = 1000;  // how many to generate (an <eos> counts as one)
  SamplerOptions sampler;
  bool stop_at_eos = false;    // stop after the first generated <eos>
};

struct GenerateStats {
  std::int64_t prompt_tokens = 0, generated = 0;
  double prompt_seconds = 0, generate_seconds = 0;  // the context's forward; the loop (forward + sampling)
  bool stopped_at_eos = false, stopped_by_caller = false;
};

// Runs `context` (at least one token, e.g. <eos> for "start of a sentence") through `session`
// from its current state, then generates. on_token(id) receives each generated id in order and
// returns false to stop early. The session needs Output::Logits.
GenerateStats generate(DecodeSession& session, std::span<const std::int32_t> context, std::int32_t eos_id,
                       const GenerateOptions& opt, const std::function<bool(std::int32_t)>& on_token);

}  // namespace wordlm
