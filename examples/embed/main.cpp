// An application that embeds wordlm through its public API only: score a sentence, then
// generate ten words after it. Built against an installed wordlm (find_package or pkg-config).
//   embed MODEL.safetensors ["sentence to score"] [seed]
#include <cstdio>
#include <string>

#include <wordlm/wordlm.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors [\"sentence\"] [seed]\n", argv[0]);
    return 64;
  }
  const std::string sentence = argc > 2 ? argv[2] : "the market rose";
  const unsigned long long seed = argc > 3 ? std::stoull(argv[3]) : 1;
  try {
    const auto model = wordlm::api::Model::load(argv[1]);
    const auto score = model.score({sentence})[0];
    std::printf("wordlm %s | %s\n", wordlm::api::version(), model.describe().c_str());
    std::printf("score: %lld tokens, logprob %.4f, ppl %.2f, oov %lld\n", static_cast<long long>(score.tokens),
                score.logprob, score.ppl(), static_cast<long long>(score.oov));
    wordlm::api::Session session(model);
    session.feed_text(sentence);
    const std::string more = session.generate(10, {.temperature = 0.8, .top_k = 40, .seed = seed});
    std::printf("generated: %s\n", more.c_str());
  } catch (const wordlm::Error& e) {
    std::fprintf(stderr, "embed: %s\n", e.what());
    return wordlm::exit_code(e.kind());
  }
  return 0;
}
