// lm-score: one score per sentence, for batch processing (rescoring hypotheses, filtering a
// corpus). Reads files or stdin a line at a time, scores each line from a fresh state with <eos>
// as its start context (or the whole input as running text with --carry-state), and writes one
// record per line in input order: JSON lines by default, TSV with --format tsv. Input is
// streamed in groups of lines, so memory stays bounded by the group, not the file.
#include <cmath>
#include <cstdio>
#include <deque>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "data/lines.hpp"
#include "fmt/format.h"
#include "io/checkpoint.hpp"
#include "model/infer.hpp"
#include "nlohmann/json.hpp"
#include "runinfo/runinfo.hpp"
#include "session/generate.hpp"
#include "session/score.hpp"

using namespace wordlm;
using json = nlohmann::json;
using ordered = nlohmann::ordered_json;  // records keep the documented key order

namespace {

struct Settings {
  bool tsv = false, per_token = false, skip_invalid = false, lowercase = false, show_file = false;
};

// One input line on its way to the output.
struct Line {
  std::int64_t number = 0;
  const std::string* file = nullptr;
  std::vector<std::int32_t> ids;
  std::int64_t oov = 0;
  std::string skipped;  // why it was not scored ("" if it was)
};

struct Totals {
  std::int64_t lines = 0, skipped = 0, tokens = 0, oov = 0;
  double logprob = 0;
};

class Writer {
 public:
  Writer(const std::string& path, const Settings& s) : s_(s) {
    if (!path.empty() && path != "-") {
      f_ = std::fopen(path.c_str(), "wb");
      if (!f_) throw Error(ErrorKind::CantCreate, path + ": cannot create");
      own_ = true;
    }
    if (s_.tsv) put(s_.per_token ? "line\ttokens\tlogprob\tppl\toov\ttoken_logprobs\n" : "line\ttokens\tlogprob\tppl\toov\n");
  }
  ~Writer() {
    if (own_) std::fclose(f_);
  }
  void record(const Line& l, const SentenceScore* sc, Totals& t) {
    ++t.lines;
    if (!sc) {
      ++t.skipped;
      if (s_.tsv)
        put(fmt::format("{}\t0\tnan\tnan\t0\tskipped: {}\n", l.number, l.skipped));
      else
        put(with_file(ordered{{"line", l.number}, {"skipped", l.skipped}}, l).dump() + "\n");
      return;
    }
    t.tokens += sc->tokens, t.logprob += sc->logprob, t.oov += l.oov;
    const double ppl = sc->tokens > 0 ? std::exp(-sc->logprob / double(sc->tokens)) : NAN;
    if (s_.tsv) {
      std::string row = fmt::format("{}\t{}\t{}\t{}\t{}", l.number, sc->tokens, sc->logprob, ppl, l.oov);
      if (s_.per_token) row += "\t" + fmt::format("{}", fmt::join(sc->token_logprobs, " "));
      put(row + "\n");
      return;
    }
    ordered j = {{"line", l.number}, {"tokens", sc->tokens}, {"logprob", sc->logprob}};
    j["ppl"] = sc->tokens > 0 ? ordered(ppl) : ordered(nullptr);
    j["oov"] = l.oov;
    if (s_.per_token) j["token_logprobs"] = sc->token_logprobs;
    put(with_file(std::move(j), l).dump() + "\n");
  }
  void flush() {
    if (std::fflush(f_) != 0) throw Error(ErrorKind::Io, "cannot write the scores");
  }

 private:
  ordered with_file(ordered j, const Line& l) const {
    if (s_.show_file) j["file"] = *l.file;
    return j;
  }
  void put(const std::string& s) {
    if (std::fwrite(s.data(), 1, s.size(), f_) != s.size()) throw Error(ErrorKind::Io, "cannot write the scores");
  }
  const Settings& s_;
  std::FILE* f_ = stdout;
  bool own_ = false;
};

// Reads the next line into `l`; false at the end. A line that is not valid text is marked
// skipped with --skip-invalid, else (after the caller has written what came before) an error.
bool read_line(LineReader& in, const Vocab& vocab, const Settings& s, Line& l, std::string& buf, std::string& error) {
  if (!in.next(buf)) return false;
  l = Line{};
  l.number = in.line_number();
  l.file = &in.name();
  Encoded e;
  if (auto bad = encode_line(vocab, buf, s.lowercase, e)) {
    const std::string why = fmt::format("{} at column {}", bad->what, bad->column);
    if (!s.skip_invalid) {
      error = fmt::format("{}:{}:{}: {} (use --skip-invalid to skip such lines)", in.name(), l.number, bad->column, bad->what);
      return false;
    }
    l.skipped = why;
    return true;
  }
  l.ids = std::move(e.ids);
  l.oov = e.unknown;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lm-score: score sentences with a wordlm checkpoint (fp32, int8 or mixed), one line each, for batch\n"
               "processing. Each line is scored from a fresh state with <eos> as its start context, its closing <eos>\n"
               "included (natural-log probabilities); records come out in input order, one per line:\n"
               "  {\"line\": 1, \"tokens\": 12, \"logprob\": -53.1, \"ppl\": 83.2, \"oov\": 0}\n"
               "or TSV columns line, tokens, logprob, ppl, oov [, token_logprobs] after a header row.",
               "lm-score"};
  cli::CommonOptions common;
  std::string model_path, output = "-", report, format = "json";
  std::vector<std::string> inputs;
  Settings s;
  bool carry = false, no_eos = false;
  std::int64_t batch = 64, window = 64, group = 8192;
  app.add_option("-m,--model", model_path, "Checkpoint to score with")->required();
  app.add_option("inputs", inputs, "Text files, one sentence a line ('-' or none: standard input)");
  app.add_option("--format", format, "Record format: json (JSON lines) or tsv")->capture_default_str();
  app.add_flag("--per-token", s.per_token, "Add each predicted token's log-probability to the record");
  app.add_flag("--no-eos", no_eos, "Do not score the closing <eos> of each sentence");
  app.add_flag("--carry-state", carry, "Score the input as running text (the state carried from line to line; the "
                                       "first token is context only), as lm-eval --file does with batch size 1");
  app.add_flag("--skip-invalid", s.skip_invalid, "Skip lines that are not valid UTF-8, hold a NUL byte or a word the "
                                                 "vocabulary cannot represent (the record says so) instead of "
                                                 "stopping with exit 65");
  app.add_option("--batch-size", batch, "Sentences per forward pass (grouped by length)")->capture_default_str();
  app.add_option("--window", window, "Steps per forward pass; longer sentences run in windows, state carried")
      ->capture_default_str();
  app.add_option("--group", group, "Lines read before a group is scored and written (bounds memory)")->capture_default_str();
  app.add_flag("--lowercase", s.lowercase, "Lowercase ASCII letters while reading");
  app.add_option("-o,--output", output, "Write the records to this file instead of stdout");
  cli::add_report_option(app, report);
  common.add(app);
  cli::setup_app(app, "the file the records go to (default: stdout)");

  return cli::run(app, argc, argv, [&]() -> int {
    common.apply();
    if (format != "json" && format != "tsv") throw_usage("--format must be json or tsv");
    s.tsv = format == "tsv";
    if (batch < 1) throw_usage("--batch-size must be at least 1");
    if (window < 1) throw_usage("--window must be at least 1");
    if (group < 1) throw_usage("--group must be at least 1");
    if (carry && no_eos) throw_usage("--carry-state scores running text, whose <eos> tokens are part of it: drop --no-eos");
    if (report == "-" && (output.empty() || output == "-"))
      throw_usage("--report -: stdout carries the records; write the report to a file, or the records with -o");
    if (inputs.empty()) inputs.push_back("-");
    s.show_file = inputs.size() > 1;
    std::vector<cli::NamedPath> ins{{"-m", model_path}};
    for (const auto& in : inputs) ins.push_back({"FILE", in});
    cli::check_paths(ins, {{"-o", output}, {"--report", report}});
    ThreadPool pool(common.thread_count());

    Timer tl;
    const Checkpoint ck = load_checkpoint(model_path);
    const InferenceModel model = InferenceModel::from_checkpoint(ck);
    const Vocab vocab(ck.vocab);
    if (vocab.eos_id() < 0) throw_data(model_path + ": the vocabulary has no <eos>");
    cli::log_info(fmt::format("model: {} | {} | {} | loaded in {}", model_path, model.describe(), ck.config.describe(),
                              cli::human_seconds(tl.seconds())));
    ScoreOptions so{.eos_id = vocab.eos_id(), .batch = batch, .window = window, .score_eos = !no_eos, .per_token = s.per_token};
    Writer w(output, s);
    Totals t;
    Timer timer;
    std::string buf, error;
    auto progress = [&] {
      cli::progress(fmt::format("scored {} lines, {} tokens ({:.0f} tokens/s)", t.lines, t.tokens,
                                double(t.tokens) / std::max(timer.seconds(), 1e-9)));
    };

    if (!carry) {
      SentenceScorer scorer(model, pool, so);
      std::vector<Line> lines;
      std::vector<std::vector<std::int32_t>> ids;
      for (const auto& path : inputs) {
        LineReader in(path);
        bool more = true;
        while (more && error.empty()) {
          lines.clear();
          Line l;
          while (static_cast<std::int64_t>(lines.size()) < group && (more = read_line(in, vocab, s, l, buf, error)))
            lines.push_back(std::move(l));
          ids.clear();
          for (auto& x : lines)
            if (x.skipped.empty()) ids.push_back(std::move(x.ids));
          const std::vector<SentenceScore> sc = scorer.score(ids);
          std::size_t k = 0;
          for (const auto& x : lines) w.record(x, x.skipped.empty() ? &sc[k++] : nullptr, t);
          w.flush();
          progress();
        }
        if (!error.empty()) break;
      }
    } else {
      StreamScorer scorer(model, pool, so);
      std::deque<Line> waiting;  // lines added (or skipped) whose record is not written yet
      auto flush_skipped = [&] {
        while (!waiting.empty() && !waiting.front().skipped.empty()) w.record(waiting.front(), nullptr, t), waiting.pop_front();
      };
      auto on_done = [&](SentenceScore&& sc) {
        flush_skipped();
        w.record(waiting.front(), &sc, t);
        waiting.pop_front();
        flush_skipped();
      };
      for (const auto& path : inputs) {
        LineReader in(path);
        Line l;
        while (read_line(in, vocab, s, l, buf, error)) {
          waiting.push_back(l);
          if (l.skipped.empty()) scorer.add(waiting.back().ids, on_done);
          flush_skipped();
          if (t.lines % group == 0) w.flush(), progress();
        }
        if (!error.empty()) break;
      }
      scorer.finish(on_done);
      flush_skipped();
      w.flush();
    }
    cli::progress_done();
    const double secs = timer.seconds();
    if (!error.empty()) throw_data(error);  // after every earlier record was written and flushed
    const double ppl = t.tokens > 0 ? std::exp(-t.logprob / double(t.tokens)) : NAN;
    cli::log_info(fmt::format("scored {} lines ({} skipped), {} tokens ({} out of vocabulary) in {} | {:.0f} tokens/s | "
                              "total logprob {:.4f} | ppl {:.4f}",
                              t.lines, t.skipped, t.tokens, t.oov, cli::human_seconds(secs),
                              double(t.tokens) / std::max(secs, 1e-9), t.logprob, ppl));
    if (!report.empty()) {
      json j = {{"tool", "lm-score"},
                {"run", run_info(pool.size())},
                {"model", {{"path", model_path}, {"kind", model.describe()}, {"config", ck.config.to_json()}}},
                {"inputs", inputs},
                {"settings",
                 {{"carry_state", carry}, {"score_eos", !no_eos}, {"batch_size", batch}, {"window", window},
                  {"format", format}}},
                {"lines", t.lines},
                {"skipped", t.skipped},
                {"tokens", t.tokens},
                {"oov", t.oov},
                {"logprob", t.logprob},
                {"ppl", t.tokens > 0 ? json(ppl) : json(nullptr)},
                {"seconds", secs},
                {"tokens_per_sec", double(t.tokens) / std::max(secs, 1e-9)}};
      cli::emit_json(j, report);
    }
    return 0;
  });
}
