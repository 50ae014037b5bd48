// lm-generate: text from a checkpoint (fp32, int8 or mixed), as pytorch/examples' generate.py
// with llama.cpp's habits: a prompt (-p or -f) is evaluated in one batched pass, then words are
// drawn one at a time (temperature, greedy, top-k, top-p) and streamed to stdout as they come;
// timings on stderr at the end and, with --report FILE, a JSON report.
#include <unistd.h>

#include <cstdio>
#include <random>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/timer.hpp"
#include "data/lines.hpp"
#include "fmt/format.h"
#include "io/checkpoint.hpp"
#include "model/infer.hpp"
#include "nlohmann/json.hpp"
#include "runinfo/runinfo.hpp"
#include "session/generate.hpp"

using namespace wordlm;
using json = nlohmann::json;

namespace {

struct Prompt {
  Encoded enc;
  std::string text;  // what is echoed
};

Prompt read_prompt(const Vocab& vocab, const std::string& prompt, const std::string& file, bool lowercase) {
  Prompt p;
  auto fail = [](const std::string& where, const LineProblem& bad) {
    throw_data(fmt::format("{}:{}: {}", where, bad.column, bad.what));
  };
  if (!file.empty()) {
    LineReader in(file);
    std::string line;
    while (in.next(line)) {
      if (auto bad = encode_line(vocab, line, lowercase, p.enc))
        fail(fmt::format("{}:{}", in.name(), in.line_number()), *bad);
      p.enc.ids.push_back(vocab.eos_id());
      p.text += line + "\n";
    }
  }
  if (!prompt.empty()) {
    if (auto bad = encode_line(vocab, prompt, lowercase, p.enc)) fail("--prompt: column", *bad);
    p.text += prompt;
  }
  return p;
}

class Output {
 public:
  explicit Output(const std::string& path) {
    if (path.empty() || path == "-") return;
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) throw Error(ErrorKind::CantCreate, path + ": cannot create");
    own_ = true;
  }
  ~Output() {
    if (own_) std::fclose(f_);
  }
  void write(std::string_view s) {
    if (std::fwrite(s.data(), 1, s.size(), f_) != s.size() || std::fflush(f_) != 0)
      throw Error(ErrorKind::Io, "cannot write the generated text");
  }

 private:
  std::FILE* f_ = stdout;
  bool own_ = false;
};

std::string timing_line(const char* what, double ms, std::int64_t n) {
  return fmt::format("{:<16} = {:10.2f} ms / {:6} tokens ({:8.3f} ms per token, {:10.2f} tokens per second)", what, ms,
                     n, n ? ms / double(n) : 0.0, ms > 0 ? 1000.0 * double(n) / ms : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lm-generate: generate text from a wordlm checkpoint (fp32, int8 or mixed). The prompt (-p TEXT or\n"
               "-f FILE) is read as the start of a sentence and run through the model in one batched pass; words are\n"
               "then drawn one at a time and streamed to stdout (<eos> prints as a newline). Timings on stderr.",
               "lm-generate"};
  cli::CommonOptions common;
  std::string model_path, prompt, prompt_file, outf, report;
  std::int64_t words = 1000, log_interval = 100;
  SamplerOptions so;
  std::uint64_t seed = 0;
  bool lowercase = false, stop_at_eos = false, no_display_prompt = false;
  app.add_option("-m,--model,--checkpoint", model_path, "Checkpoint to generate from")->required();
  app.add_option("-n,--words", words, "Number of words to generate (an <eos> counts as one)")->capture_default_str();
  app.add_option("--temperature", so.temperature, "Sampling temperature, > 0 (higher: more diverse)")->capture_default_str();
  app.add_flag("--greedy", so.greedy, "Always take the most likely word (argmax); --temperature etc. unused");
  app.add_option("--top-k", so.top_k, "Sample among the k most likely words (0: all)")->capture_default_str();
  app.add_option("--top-p", so.top_p, "Sample among the smallest set of words whose probability reaches p (1: all)")
      ->capture_default_str();
  auto* seed_opt = app.add_option("-s,--seed", seed, "Random seed (default: drawn at random and printed)")->check(cli::seed_check());
  app.add_option("-p,--prompt", prompt, "Text to continue (words; unknown ones become <unk>)");
  app.add_option("-f,--file", prompt_file, "Read the prompt from this file (one sentence a line, each ends in <eos>)");
  app.add_flag("--stop-at-eos", stop_at_eos, "Stop after the first generated <eos> (end of sentence)");
  app.add_flag("--no-display-prompt", no_display_prompt, "Do not echo the prompt before the generated text");
  app.add_option("--outf", outf, "Write the text to this file instead of stdout");
  app.add_option("--log-interval", log_interval, "Report progress every N words on stderr (0: never)")->capture_default_str();
  app.add_flag("--lowercase", lowercase, "Lowercase ASCII letters of the prompt");
  cli::add_report_option(app, report);
  common.add(app);
  cli::setup_app(app, "");

  return cli::run(app, argc, argv, [&]() -> int {
    common.apply();
    if (words < 0) throw_usage("--words must not be negative");
    if (log_interval < 0) throw_usage("--log-interval must not be negative");
    check_sampler_options(so);
    if (report == "-" && (outf.empty() || outf == "-"))
      throw_usage("--report -: stdout carries the generated text; write the report to a file, or the text with --outf");
    cli::check_paths({{"-m", model_path}, {"-f", prompt_file}}, {{"--outf", outf}, {"--report", report}});
    if (!seed_opt->count()) {
      std::random_device rd;
      seed = (std::uint64_t{rd()} << 32) ^ rd();
      cli::log_info(fmt::format("seed: {} (repeat this run with --seed {})", seed, seed));
    }
    so.seed = seed;
    ThreadPool pool(common.thread_count());

    Timer tl;
    const Checkpoint ck = load_checkpoint(model_path);
    const InferenceModel model = InferenceModel::from_checkpoint(ck);
    const Vocab vocab(ck.vocab);
    const double load_ms = 1000 * tl.seconds();
    if (vocab.eos_id() < 0) throw_data(model_path + ": the vocabulary has no <eos>");
    cli::log_info(fmt::format("model: {} | {} | {} | loaded in {}", model_path, model.describe(), ck.config.describe(),
                              cli::human_seconds(load_ms / 1000)));
    Prompt p = read_prompt(vocab, prompt, prompt_file, lowercase);
    if (p.enc.unknown > 0)
      cli::log_warn(fmt::format("{} word(s) of the prompt are not in the vocabulary and were read as <unk>", p.enc.unknown));
    std::vector<std::int32_t> context{vocab.eos_id()};
    context.insert(context.end(), p.enc.ids.begin(), p.enc.ids.end());

    Output out(outf);
    if (!no_display_prompt && !p.text.empty()) out.write(p.text);
    const auto& stop = cli::install_stop_handler();
    DecodeSession session(model, pool, DecodeSession::Output::Logits);
    GenerateOptions go{.tokens = words, .sampler = so, .stop_at_eos = stop_at_eos};
    std::int64_t n = 0;
    std::string piece;
    // a progress line on the terminal that also shows the text would erase the line being written
    const bool show_progress = log_interval > 0 && !((outf.empty() || outf == "-") && ::isatty(1) == 1);
    bool space = !p.text.empty() && p.text.back() != '\n' && !no_display_prompt;  // a word goes before the next
    const GenerateStats st = generate(session, context, vocab.eos_id(), go, [&](std::int32_t id) {
      piece = id == vocab.eos_id() ? "\n" : (space ? " " : "") + vocab.word(id);
      space = id != vocab.eos_id();
      out.write(piece);
      ++n;
      if (show_progress && n % log_interval == 0) cli::progress(fmt::format("| Generated {}/{} words", n, words));
      return !stop.load();
    });
    cli::progress_done();
    if (n > 0 && piece != "\n") out.write("\n");
    const double pms = 1000 * st.prompt_seconds, gms = 1000 * st.generate_seconds;
    cli::log_info(fmt::format("{:<16} = {:10.2f} ms", "load time", load_ms));
    cli::log_info(timing_line("prompt eval time", pms, st.prompt_tokens));
    cli::log_info(timing_line("eval time", gms, st.generated));
    if (!report.empty()) {
      json j = {{"tool", "lm-generate"},
                {"run", run_info(pool.size())},
                {"model", {{"path", model_path}, {"kind", model.describe()}, {"config", ck.config.to_json()}}},
                {"settings",
                 {{"words", words}, {"temperature", so.temperature}, {"greedy", so.greedy}, {"top_k", so.top_k},
                  {"top_p", so.top_p}, {"seed", seed}, {"stop_at_eos", stop_at_eos}}},
                {"prompt", {{"text", prompt}, {"file", prompt_file}, {"tokens", st.prompt_tokens}, {"unknown_words", p.enc.unknown}}},
                {"generated_tokens", st.generated},
                {"stopped", st.stopped_by_caller ? "interrupted" : st.stopped_at_eos ? "eos" : "words"},
                {"timing",
                 {{"load_ms", load_ms},
                  {"prompt_ms", pms},
                  {"prompt_ms_per_token", st.prompt_tokens ? pms / double(st.prompt_tokens) : 0.0},
                  {"generate_ms", gms},
                  {"ms_per_token", st.generated ? gms / double(st.generated) : 0.0},
                  {"tokens_per_sec", gms > 0 ? 1000.0 * double(st.generated) / gms : 0.0}}}};
      cli::emit_json(j, report);
    }
    return st.stopped_by_caller ? exit_code(ErrorKind::Interrupted) : 0;
  });
}
