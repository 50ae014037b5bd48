// lm-bench's measurement loop and output formats.
#include "spec/presets.hpp"
#include "lmbench/bench.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/rng.hpp"
#include "core/timer.hpp"
#include "fmt/format.h"
#include "model/convert.hpp"
#include "model/eval.hpp"
#include "model/lstm_lm.hpp"
#include "quantize/quantize.hpp"
#include "runinfo/runinfo.hpp"

namespace wordlm {

std::string BenchTest::name() const {
  switch (kind) {
    case BenchKind::Forward: return fmt::format("b{} s{}", batch, seq);
    case BenchKind::Decode: return fmt::format("decode b{}", batch);
    case BenchKind::Eval: return fmt::format("eval b{} bptt{}", batch, seq);
    case BenchKind::Load: return "load";
  }
  return "?";
}

double current_rss_mb() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return double(resident) * double(::sysconf(_SC_PAGESIZE)) / 1e6;
}

double peak_rss_mb() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1e3;  // kB -> MB
}

namespace {
std::string dtype_of(const Checkpoint& ck) {
  if (!ck.is_quantized()) return "fp32";
  const DType et = ck.tensor("encoder.weight").dtype();
  const bool emb = et == DType::I8 || et == DType::U8;
  const bool per_tensor = ck.quantization.value("weights", nlohmann::json::object()).value("granularity", "") == "per-tensor";
  bool any4 = false, any8 = false;
  for (const auto& [name, t] : ck.tensors) any4 |= t.dtype() == DType::U8, any8 |= t.dtype() == DType::I8;
  std::string s = any4 ? (any8 ? "q4/int8" : "q4") : "int8";
  if (per_tensor) s += "/tensor";
  if (emb) s += "+emb";
  return s;
}
}  // namespace

BenchModel preset_model(const std::string& name, const std::string& file) {
  const Preset& p = preset(name);
  LstmLM<float> m(p.config);
  Rng rng(1);
  m.init_pytorch(rng);
  std::vector<std::string> vocab;
  vocab.reserve(static_cast<std::size_t>(p.config.vocab_size));
  vocab.emplace_back("<eos>");
  vocab.emplace_back("<unk>");
  while (static_cast<std::int64_t>(vocab.size()) < p.config.vocab_size) vocab.push_back("w" + std::to_string(vocab.size()));
  BenchModel b;
  b.label = name;
  b.source = "preset:" + name;
  b.file = file;
  b.ck = checkpoint_from_model(m, vocab, {{"preset", name}, {"weights", "random (PyTorch init, seed 1)"}});
  save_checkpoint(file, b.ck);
  b.file_bytes = static_cast<std::uint64_t>(file_size(file));
  b.params = static_cast<std::int64_t>(param_count(p.config));
  b.dtype = "fp32";
  return b;
}

BenchModel file_model(const std::string& path) {
  BenchModel b;
  b.ck = load_checkpoint(path);
  b.label = std::filesystem::path(path).filename().string();
  b.source = path;
  b.file = path;
  b.file_bytes = static_cast<std::uint64_t>(file_size(path));
  b.params = static_cast<std::int64_t>(param_count(b.ck.config));
  b.dtype = dtype_of(b.ck);
  return b;
}

BenchModel quantized_model(const BenchModel& fp32, const std::string& file, WeightGranularity g, bool embedding) {
  QuantizeOptions qo;
  qo.granularity = g;
  qo.embedding = embedding;
  BenchModel b;
  b.ck = quantize_checkpoint(fp32.ck, qo).checkpoint;
  save_checkpoint(file, b.ck);
  b.label = fp32.label;
  b.source = fp32.source + " (int8 on the fly)";
  b.file = file;
  b.file_bytes = static_cast<std::uint64_t>(file_size(file));
  b.params = fp32.params;
  b.dtype = dtype_of(b.ck);
  return b;
}

std::vector<BenchResult> run_bench(const std::vector<BenchModel>& models, const std::vector<BenchTest>& tests,
                                   const std::vector<int>& threads, const BenchOptions& opt) {
  if (opt.reps < 1) throw_usage("repetitions must be at least 1");
  std::vector<BenchResult> out;
  Rng rng(opt.seed);
  for (const auto& bm : models) {
    InferOptions io;
    io.act = opt.act;
    const double rss_before = current_rss_mb();
    InferenceModel model = InferenceModel::from_checkpoint(bm.ck, io);
    double model_rss = -1;
    const std::int64_t V = bm.ck.config.vocab_size;
    for (int nt : threads) {
      ThreadPool pool(nt);
      for (const auto& t : tests) {
        if (t.kind == BenchKind::Eval && opt.eval_ids.empty()) continue;
        if (opt.delay > 0) std::this_thread::sleep_for(std::chrono::duration<double>(opt.delay));
        BenchResult r;
        r.model = &bm;
        r.threads = nt;
        r.test = t;
        std::vector<std::int32_t> tokens(static_cast<std::size_t>(std::max<std::int64_t>(t.batch * t.seq, 1)));
        for (auto& v : tokens) v = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(V)));
        InferenceModel::State st;
        std::function<double()> once;  // returns seconds of one measured run
        switch (t.kind) {
          case BenchKind::Forward:
            r.tokens = t.batch * t.seq;
            once = [&] {
              st.reset(bm.ck.config, t.batch);
              Timer tm;
              model.forward(tokens.data(), t.seq, st, pool, InferenceModel::Post::LogSoftmax);
              return tm.seconds();
            };
            break;
          case BenchKind::Decode:
            r.tokens = t.batch;
            once = [&] {
              st.reset(bm.ck.config, t.batch);
              Timer tm;
              for (std::int64_t i = 0; i < t.seq; ++i)
                model.forward(tokens.data() + i * t.batch, 1, st, pool, InferenceModel::Post::LogSoftmax);
              return tm.seconds() / double(t.seq);
            };
            break;
          case BenchKind::Eval: {
            EvalOptions eo;
            eo.batch = t.batch;
            eo.bptt = t.seq;
            r.tokens = 0;
            once = [&, eo] {
              const EvalResult e = evaluate(model, opt.eval_ids, eo, pool);
              r.tokens = e.tokens;
              return e.seconds;
            };
            break;
          }
          case BenchKind::Load:
            r.tokens = 0;
            once = [&] {
              Timer tm;
              const Checkpoint ck = load_checkpoint(bm.file);
              InferenceModel m = InferenceModel::from_checkpoint(ck, io);
              return tm.seconds();
            };
            break;
        }
        if (opt.warmup) once();
        std::vector<double> tps;
        for (int k = 0; k < opt.reps; ++k) {
          if (opt.progress)
            opt.progress(fmt::format("{} {} t={} {}: run {}/{}", bm.label, bm.dtype, nt, t.name(), k + 1, opt.reps));
          const double s = once();
          r.ms.push_back(1e3 * s);
          if (r.tokens > 0) tps.push_back(double(r.tokens) / s);
        }
        r.ms_stats = summarize(r.ms);
        r.tps_stats = summarize(tps);
        r.rss_mb = current_rss_mb();
        if (model_rss < 0) model_rss = r.rss_mb - rss_before;
        r.model_rss_mb = model_rss;
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

nlohmann::json bench_result_json(const BenchResult& r, bool with_samples) {
  const BenchModel& m = *r.model;
  const char* kind = r.test.kind == BenchKind::Forward ? "forward"
                     : r.test.kind == BenchKind::Decode ? "decode"
                     : r.test.kind == BenchKind::Eval ? "eval"
                                                      : "load";
  nlohmann::json j = {{"impl", "wordlm"},
                      {"model", m.label},
                      {"source", m.source},
                      {"dtype", m.dtype},
                      {"size_bytes", m.file_bytes},
                      {"params", m.params},
                      {"config", m.ck.config.to_json()},
                      {"threads", r.threads},
                      {"test", r.test.name()},
                      {"kind", kind},
                      {"batch", r.test.batch},
                      {"seq", r.test.seq},
                      {"tokens", r.tokens},
                      {"reps", r.ms.size()},
                      {"ms", to_json(r.ms_stats)},
                      {"tokens_per_sec", to_json(r.tps_stats)},
                      {"rss_mb", r.rss_mb},
                      {"model_rss_mb", r.model_rss_mb}};
  if (with_samples) j["samples_ms"] = r.ms;
  return j;
}

nlohmann::json bench_json(const std::vector<BenchModel>& models, const std::vector<BenchResult>& results,
                          const BenchOptions& opt) {
  nlohmann::json ms = nlohmann::json::array();
  for (const auto& m : models)
    ms.push_back({{"model", m.label}, {"source", m.source}, {"dtype", m.dtype}, {"size_bytes", m.file_bytes},
                  {"params", m.params}, {"config", m.ck.config.to_json()}});
  nlohmann::json rs = nlohmann::json::array();
  std::vector<int> thread_counts;  // the thread counts this run measured, in order
  for (const auto& r : results) {
    rs.push_back(bench_result_json(r));
    if (std::find(thread_counts.begin(), thread_counts.end(), r.threads) == thread_counts.end())
      thread_counts.push_back(r.threads);
  }
  nlohmann::json run = run_info(0);
  run["threads"] = thread_counts;
  return {{"tool", "lm-bench"},
          {"impl", "wordlm"},
          {"run", run},
          {"warning", build_warning()},
          {"options", {{"reps", opt.reps}, {"warmup", opt.warmup}, {"delay", opt.delay},
                       {"act_granularity", granularity_name(opt.act)}, {"eval_data", opt.eval_name}}},
          {"models", ms},
          {"results", rs},
          {"peak_rss_mb", peak_rss_mb()}};
}

namespace {
std::string with_commas(double v) {
  auto s = fmt::format("{:.0f}", v);
  for (int i = static_cast<int>(s.size()) - 3; i > (s[0] == '-' ? 1 : 0); i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}
std::string size_str(std::uint64_t b) { return fmt::format("{:.2f} MB", double(b) / 1e6); }
std::string params_str(std::int64_t p) { return fmt::format("{:.2f} M", double(p) / 1e6); }
}  // namespace

std::string bench_markdown(const std::vector<BenchResult>& results) {
  std::string s = "| model | size | params | dtype | threads | test | ms | t/s |\n"
                  "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: |\n";
  for (const auto& r : results) {
    const auto& m = *r.model;
    const std::string tps = r.tps_stats.n ? with_commas(r.tps_stats.mean) + " ± " + with_commas(r.tps_stats.sd) : "-";
    const int digits = r.ms_stats.mean < 10 ? 3 : 2;
    s += fmt::format("| {} | {} | {} | {} | {} | {} | {:.{}f} ± {:.{}f} | {} |\n", m.label, size_str(m.file_bytes),
                     params_str(m.params), m.dtype, r.threads, r.test.name(), r.ms_stats.mean, digits, r.ms_stats.sd,
                     digits, tps);
  }
  return s;
}

std::string bench_csv(const std::vector<BenchResult>& results) {
  std::string s =
      "impl,model,dtype,size_bytes,params,threads,test,kind,batch,seq,tokens,reps,ms_mean,ms_sd,ms_median,ms_p90,ms_p99,"
      "ms_min,ms_max,tps_mean,tps_sd,tps_median\n";
  for (const auto& r : results) {
    const auto j = bench_result_json(r, false);
    s += fmt::format("wordlm,{},{},{},{},{},{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.3f},{:.3f},{:.3f}\n",
                     r.model->label, r.model->dtype, r.model->file_bytes, r.model->params, r.threads, r.test.name(),
                     j["kind"].get<std::string>(), r.test.batch, r.test.seq, r.tokens, r.ms.size(), r.ms_stats.mean,
                     r.ms_stats.sd, r.ms_stats.median, r.ms_stats.p90, r.ms_stats.p99, r.ms_stats.min, r.ms_stats.max,
                     r.tps_stats.mean, r.tps_stats.sd, r.tps_stats.median);
  }
  return s;
}

std::string bench_jsonl(const std::vector<BenchResult>& results) {
  std::string s;
  const auto ctx = run_info(0);
  for (const auto& r : results) {
    auto j = bench_result_json(r);
    j["cpu"] = ctx["cpu"];
    j["kernel_isa"] = ctx["kernel_isa"];
    j["git_revision"] = ctx["build"]["git_revision"];
    j["date"] = ctx["date"];
    s += j.dump() + "\n";
  }
  return s;
}

}  // namespace wordlm
