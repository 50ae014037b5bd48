#include "session/generate.hpp"

#include "core/error.hpp"
#include "core/timer.hpp"

namespace wordlm {

std::optional<LineProblem> encode_line(const Vocab& vocab, std::string_view line, bool lowercase, Encoded& out) {
  std::string lower;
  std::optional<LineProblem> unknown;  // the first word the vocabulary cannot represent
  auto bad = for_each_word(line, [&](std::string_view w) {
    if (unknown) return;
    const std::size_t column = static_cast<std::size_t>(w.data() - line.data()) + 1;
    if (lowercase) {
      lower.assign(w);
      for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      w = lower;
    }
    if (const auto id = vocab.find(w)) {
      out.ids.push_back(*id);
      return;
    }
    if (vocab.unk_id() < 0) {
      unknown = LineProblem{column, "the word '" + std::string(w) + "' is not in the vocabulary, which has no <unk>"};
      return;
    }
    out.ids.push_back(vocab.unk_id());
    ++out.unknown;
  });
  return bad ? bad : unknown;
}

GenerateStats generate(DecodeSession& session, std::span<const std::int32_t> context, std::int32_t eos_id,
                       const GenerateOptions& opt, const std::function<bool(std::int32_t)>& on_token) {
  if (context.empty()) throw_usage("generation needs at least one context token");
  if (opt.tokens < 0) throw_usage("the number of tokens to generate must not be negative");
  Sampler sampler(opt.sampler);
  const std::int64_t V = session.model().config().vocab_size;
  GenerateStats st;
  Timer t;
  std::span<const float> logits = session.feed(context);
  st.prompt_tokens = static_cast<std::int64_t>(context.size());
  st.prompt_seconds = t.seconds();
  Timer tg;
  for (std::int64_t i = 0; i < opt.tokens; ++i) {
    const std::int32_t id = sampler.sample(logits.data(), V);
    ++st.generated;
    if (!on_token(id)) {
      st.stopped_by_caller = true;
      break;
    }
    if (id == eos_id && opt.stop_at_eos) {
      st.stopped_at_eos = true;
      break;
    }
    if (i + 1 < opt.tokens) logits = session.feed({&id, 1});
  }
  st.generate_seconds = tg.seconds();
  return st;
}

}  // namespace wordlm
