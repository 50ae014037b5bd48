// lm-eval: perplexity of a checkpoint (fp32 or int8) on a corpus split, computed exactly as
// pytorch/examples' evaluate(), with llama-perplexity's error bar; with --compare BASE, both
// models side by side plus KL divergence and top-1 agreement. JSON on stdout (or --report).
#include <cmath>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/sha256.hpp"
#include "core/timer.hpp"
#include "data/corpus.hpp"
#include "fmt/format.h"
#include "io/checkpoint.hpp"
#include "model/eval.hpp"
#include "model/infer.hpp"
#include "runinfo/runinfo.hpp"
#include "stats/stats.hpp"

using namespace wordlm;
using json = nlohmann::json;

namespace {

struct Loaded {
  Checkpoint ck;
  InferenceModel model;
  double load_seconds = 0;
};

Loaded load(const std::string& path, const InferOptions& io) {
  Timer t;
  Checkpoint ck = load_checkpoint(path);
  InferenceModel m = InferenceModel::from_checkpoint(ck, io);
  return {std::move(ck), std::move(m), t.seconds()};
}

json model_json(const std::string& path, const Loaded& l) {
  return {{"path", path},
          {"bytes", file_size(path)},
          {"kind", l.model.describe()},
          {"config", l.ck.config.to_json()},
          {"quantization", l.ck.quantization},
          {"load_seconds", l.load_seconds}};
}

json nll_json(const NllStats& s) {
  return {{"nll_mean", s.mean()}, {"nll_mean_err", s.mean_err()}, {"ppl", s.ppl()}, {"ppl_err", s.ppl_err()}, {"tokens", s.n}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lm-eval: perplexity of a wordlm checkpoint (fp32 or int8) on a corpus split, and side-by-side\n"
               "comparison of two checkpoints (--compare). JSON report on stdout (or --report FILE); progress on stderr.",
               "lm-eval"};
  cli::CommonOptions common;
  std::string model_path, data, split = "test", file, compare_path, output = "-", act = "per-row";
  std::int64_t batch = 10, bptt = 35;
  double max_ppl = 0;
  bool lowercase = false;
  app.add_option("-m,--model", model_path, "Checkpoint to evaluate")->required();
  app.add_option("--data", data, "Corpus folder (train/valid/test.txt)");
  app.add_option("--split", split, "Split to evaluate: test, valid or train")->capture_default_str();
  app.add_option("--file", file, "Evaluate this text file instead of a corpus split");
  app.add_option("--batch-size,--batch_size", batch, "Evaluation batch size (pytorch/examples: 10)")->capture_default_str();
  app.add_option("--bptt", bptt, "Window length; the hidden state is carried across windows")->capture_default_str();
  app.add_option("--compare", compare_path, "Base checkpoint (e.g. fp32) to compare --model (e.g. int8) against");
  app.add_option("--act-granularity", act, "int8 activation scales: per-row (per token) or per-tensor (PyTorch)")->capture_default_str();
  app.add_option("--max-ppl", max_ppl, "Exit with status 1 if perplexity is above this (for CI)");
  app.add_flag("--lowercase", lowercase, "Lowercase ASCII letters while reading the text");
  cli::add_report_option(app, output, "-o,--output");
  common.add(app);
  cli::setup_app(app, "the same as --report (an older spelling)");

  return cli::run(app, argc, argv, [&]() -> int {
    common.apply();
    if (data.empty() == file.empty()) throw_usage("give either --data DIR (with --split) or --file FILE");
    if (batch < 1) throw_usage("--batch-size must be at least 1");
    if (bptt < 1) throw_usage("--bptt must be at least 1");
    if (app.count("--max-ppl") && !(max_ppl > 0)) throw_usage("--max-ppl must be a positive number");
    if (split != "test" && split != "valid" && split != "train") throw_usage("--split must be test, valid or train");
    InferOptions io;
    io.act = parse_act_granularity(act);
    ThreadPool pool(common.thread_count());
    cli::check_paths({{"-m", model_path}, {"--compare", compare_path}, {"--file", file}}, {{"--report", output}});

    Loaded m = load(model_path, io);
    cli::log_info(fmt::format("model: {} | {} | {} | loaded in {}", model_path, m.model.describe(), m.ck.config.describe(),
                              cli::human_seconds(m.load_seconds)));
    const std::string text_path = file.empty() ? find_split_file(data, split) : file;
    const Vocab vocab(m.ck.vocab);
    Timer tl;
    const Split s = load_split(text_path, file.empty() ? split : "file", vocab, lowercase);
    cli::log_info(fmt::format("data: {}: {} tokens, {} mapped to <unk> ({:.2f}%) | read in {}", text_path, s.size(),
                              s.unk_mapped, s.size() ? 100.0 * double(s.unk_mapped) / double(s.size()) : 0.0,
                              cli::human_seconds(tl.seconds())));
    if (s.size() > 0 && s.unk_mapped == s.size() - s.stats.lines)
      cli::log_warn("no word of this text is in the model's vocabulary: perplexity measures <unk> prediction only");
    EvalOptions eo;
    eo.batch = batch;
    eo.bptt = bptt;
    eo.progress = [](std::int64_t done, std::int64_t total) {
      cli::progress(fmt::format("evaluating: {}/{} windows ({:.0f}%)", done, total, 100.0 * double(done) / double(total)));
    };
    json out = {{"tool", "lm-eval"},
                {"run", run_info(pool.size())},
                {"model", model_json(model_path, m)},
                {"data", split_identity(s)},
                {"split", file.empty() ? split : "file"},
                {"batch_size", batch},
                {"bptt", bptt},
                {"act_granularity", granularity_name(io.act)}};
    double ppl = 0;
    if (compare_path.empty()) {
      const EvalResult r = evaluate(m.model, s.ids, eo, pool);
      cli::progress_done();
      ppl = r.nll.ppl();
      out["result"] = nll_json(r.nll);
      out["seconds"] = r.seconds;
      out["tokens_per_sec"] = r.tokens_per_sec();
      cli::log_info(fmt::format("Final estimate: PPL = {:.4f} +/- {:.5f}  ({} tokens, {:.0f} tokens/s)", r.nll.ppl(),
                                r.nll.ppl_err(), r.tokens, r.tokens_per_sec()));
    } else {
      Loaded base = load(compare_path, io);
      if (base.ck.vocab != m.ck.vocab) throw_usage("--compare: the two checkpoints have different vocabularies");
      cli::log_info(fmt::format("base:  {} | {}", compare_path, base.model.describe()));
      const CompareResult r = compare(m.model, base.model, s.ids, eo, pool);
      cli::progress_done();
      ppl = r.other.ppl();
      const Summary kl = summarize(r.kld);
      const double same = double(r.top1_same) / double(r.tokens);
      const double same_err = std::sqrt(same * (1 - same) / double(r.tokens));
      // ln(PPL(Q)/PPL(base)) = mean(nll_q - nll_base); its error from the paired differences
      out["base_model"] = model_json(compare_path, base);
      out["base"] = nll_json(r.base);
      out["result"] = nll_json(r.other);
      out["comparison"] = {{"ppl_ratio", r.other.ppl() / r.base.ppl()},
                           {"ppl_diff", r.other.ppl() - r.base.ppl()},
                           {"ln_ppl_ratio", r.other.mean() - r.base.mean()},
                           {"kld", to_json(kl)},
                           {"kld_mean_err", kl.n > 1 ? kl.sd / std::sqrt(double(kl.n)) : 0.0},
                           {"top1_agreement", same},
                           {"top1_agreement_err", same_err},
                           {"tokens", r.tokens}};
      out["seconds"] = r.seconds;
      cli::log_info(fmt::format("base  PPL = {:.4f} +/- {:.5f}   ({})", r.base.ppl(), r.base.ppl_err(), compare_path));
      cli::log_info(fmt::format("model PPL = {:.4f} +/- {:.5f}   ({})", r.other.ppl(), r.other.ppl_err(), model_path));
      cli::log_info(fmt::format("PPL ratio {:.5f} | difference {:+.4f} | mean KLD {:.6f} +/- {:.6f} | median {:.6f} | "
                                "p90 {:.6f} | p99 {:.6f} | same top-1 {:.3f} +/- {:.3f}%",
                                r.other.ppl() / r.base.ppl(), r.other.ppl() - r.base.ppl(), kl.mean,
                                kl.n > 1 ? kl.sd / std::sqrt(double(kl.n)) : 0.0, kl.median, kl.p90, kl.p99, 100 * same,
                                100 * same_err));
    }
    cli::emit_json(out, output);
    if (max_ppl > 0 && ppl > max_ppl) {
      cli::log_line(fmt::format("lm-eval: perplexity {:.4f} is above --max-ppl {:.4f}", ppl, max_ppl));
      return exit_code(ErrorKind::CheckFailed);
    }
    return 0;
  });
}
