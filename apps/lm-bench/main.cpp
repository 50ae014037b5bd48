// lm-bench: latency and throughput of wordlm models, fp32 and int8 in one run, modelled on
// llama.cpp's llama-bench. Results on stdout (md, json, jsonl, csv), progress on stderr.
#include <filesystem>
#include <unistd.h>

#include "spec/presets.hpp"
#include "cli/common.hpp"
#include "cli/lists.hpp"
#include "core/error.hpp"
#include "data/corpus.hpp"
#include "fmt/format.h"
#include "lmbench/bench.hpp"
#include "runinfo/runinfo.hpp"

using namespace wordlm;

int main(int argc, char** argv) {
  CLI::App app{"lm-bench: forward latency (batch x sequence), decode latency (one token, state carried), evaluation\n"
               "throughput and load time of wordlm models; fp32 and int8 side by side with --int8.",
               "lm-bench"};
  std::vector<std::string> files, presets_given;
  std::string batches = "1", seqs = "10", output = "md", out_file = "-", report, data, split = "test",
              act = "per-row", granularity = "per-row", tests_arg = "forward";
  int reps = 5;
  bool no_warmup = false, embedding = false, int8 = false;
  cli::CommonOptions common;
  double delay = 0;
  std::int64_t decode_tokens = 32, eval_batch = 10, bptt = 35, eval_tokens = 0;
  app.add_option("-m,--model", files, "Checkpoint file (repeatable)");
  app.add_option("--preset", presets_given, "Built-in model with random weights: seed (V5000 E256 H512 L2), small, medium (repeatable)");
  app.add_flag("--int8", int8, "Also benchmark each fp32 model quantized to int8 on the fly");
  app.add_option("--granularity", granularity, "Weight scales for --int8: per-row or per-tensor")->capture_default_str();
  app.add_flag("--embedding", embedding, "With --int8, quantize the embedding too");
  app.add_option("--act-granularity", act, "int8 activation scales: per-row or per-tensor")->capture_default_str();
  app.add_option("--tests", tests_arg, "Comma list of: forward, decode, eval, load (all = every test)")->capture_default_str();
  app.add_option("-b,--batch", batches, "Forward batch sizes: list and ranges, e.g. 1,8,32 or 1-32*2")->capture_default_str();
  app.add_option("-s,--seq", seqs, "Forward sequence lengths, e.g. 1,10,35")->capture_default_str();
  app.add_option("-r,--repetitions", reps, "Measured runs per test (after a warm-up run)")->capture_default_str();
  app.add_flag("--no-warmup", no_warmup, "Skip the warm-up run");
  app.add_option("--delay", delay, "Seconds to sleep before each test (let a shared machine settle)")->capture_default_str();
  app.add_option("--decode-tokens", decode_tokens, "Tokens per decode run (the reported time is per token)")->capture_default_str();
  app.add_option("--data", data, "Corpus folder for the eval test");
  app.add_option("--split", split, "Split for the eval test")->capture_default_str();
  app.add_option("--eval-batch", eval_batch, "Eval batch size (as lm-eval)")->capture_default_str();
  app.add_option("--bptt", bptt, "Eval window length (as lm-eval)")->capture_default_str();
  app.add_option("--eval-tokens", eval_tokens, "Use only the first N tokens of the split (0 = all)")->capture_default_str();
  app.add_option("-o,--output", output, "Format of the results on stdout: md, json, jsonl or csv")->capture_default_str();
  app.add_option("--report", report, "Also write the JSON report (results with raw samples and run context) here; '-' = "
                                      "JSON on stdout instead of -o's format");
  app.add_option("--output-file", out_file, "")->group("");  // hidden: the earlier spelling, writes -o's format
  common.add(app, cli::CommonOptions::Threads::List);
  cli::setup_app(app, "the format of the results on stdout (md, json, jsonl, csv)");

  return cli::run(app, argc, argv, [&]() -> int {
    common.apply();
    if (files.empty() && presets_given.empty()) throw_usage("give at least one model: -m FILE or --preset NAME");
    if (output != "md" && output != "json" && output != "jsonl" && output != "csv")
      throw_usage("-o must be md, json, jsonl or csv, not '" + output + "'");
    if (reps < 1) throw_usage("-r must be at least 1");
    if (embedding && !int8) throw_usage("--embedding quantizes the embedding of --int8's models: give --int8 too");
    if (!(delay >= 0) || delay > 3600) throw_usage("--delay must be between 0 and 3600 seconds");
    if (decode_tokens < 1) throw_usage("--decode-tokens must be at least 1");
    if (eval_batch < 1 || bptt < 1) throw_usage("--eval-batch and --bptt must be at least 1");
    if (eval_tokens < 0) throw_usage("--eval-tokens must be >= 0");
    for (const auto& p : presets_given) preset(p);  // validates the name early
    {
      std::vector<cli::NamedPath> ins;
      for (const auto& f : files) ins.push_back({"-m", f});
      cli::check_paths(ins, {{"--report", report}, {"--output-file", out_file}});
    }
    const auto bs = cli::parse_int_list(batches, "-b");
    const auto ss = cli::parse_int_list(seqs, "-s");
    const std::vector<int> ts = common.thread_counts();
    const auto kinds = cli::parse_name_list(tests_arg, "--tests", {"forward", "decode", "eval", "load"}, "test");
    std::vector<BenchTest> tests;
    for (const auto& k : kinds) {
      if (k == "forward") {
        for (auto b : bs)
          for (auto s : ss) tests.push_back({BenchKind::Forward, b, s});
      } else if (k == "decode") {
        tests.push_back({BenchKind::Decode, 1, decode_tokens});
      } else if (k == "eval") {
        if (data.empty()) throw_usage("the eval test needs --data DIR");
        tests.push_back({BenchKind::Eval, eval_batch, bptt});
      } else {  // "load": parse_name_list admits nothing else
        tests.push_back({BenchKind::Load, 0, 0});
      }
    }
    BenchOptions opt;
    opt.reps = reps;
    opt.warmup = !no_warmup;
    opt.delay = delay;
    opt.act = parse_act_granularity(act);
    const auto wg = parse_weight_granularity(granularity);
    opt.progress = [](const std::string& s) { cli::progress(s); };

    // temporary files for presets and on-the-fly int8 models (the load test reads them)
    char tmpl[] = "/tmp/lm-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) throw Error(ErrorKind::CantCreate, "cannot create a temporary directory in /tmp");
    const std::string tmp = tmpl;
    struct Cleanup {
      std::string dir;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    } cleanup{tmp};

    std::vector<BenchModel> models;
    models.reserve(2 * (files.size() + presets_given.size()));
    for (const auto& p : presets_given) {
      cli::progress("building preset " + p);
      models.push_back(preset_model(p, tmp + "/" + p + ".safetensors"));
    }
    for (const auto& f : files) models.push_back(file_model(f));
    if (int8) {
      const std::size_t n = models.size();
      for (std::size_t i = 0; i < n; ++i)
        if (models[i].dtype == "fp32") {
          cli::progress("quantizing " + models[i].label);
          models.push_back(quantized_model(models[i], tmp + "/q" + std::to_string(i) + ".safetensors", wg, embedding));
        }
      // keep each fp32 model next to its int8 version in the output
      std::stable_sort(models.begin(), models.end(), [](const BenchModel& a, const BenchModel& b) { return a.label < b.label; });
    }
    Split eval_split;
    if (!data.empty()) {
      eval_split = load_split(find_split_file(data, split), split, Vocab(models.front().ck.vocab), false);
      for (const auto& m : models)
        if (m.ck.vocab != models.front().ck.vocab)
          throw_usage("the eval test needs models with one vocabulary; " + m.label + " differs");
      if (eval_tokens > 0 && eval_tokens < eval_split.size()) eval_split.ids.resize(static_cast<std::size_t>(eval_tokens));
      opt.eval_ids = eval_split.ids;
      opt.eval_name = eval_split.path;
    }
    if (const std::string w = build_warning(); !w.empty()) cli::log_warn(w);
    const auto results = run_bench(models, tests, ts, opt);
    cli::progress_done();
    const auto report_json = bench_json(models, results, opt);
    if (!report.empty()) cli::emit_json(report_json, report);
    if (report == "-") return 0;  // stdout holds the JSON report
    std::string text;
    if (output == "md") text = bench_markdown(results);
    else if (output == "csv") text = bench_csv(results);
    else if (output == "jsonl") text = bench_jsonl(results);
    else text = json_text(report_json);
    cli::emit_text(text, out_file);
    return 0;
  });
}
