// The measurements behind lm-bench: forward latency of a batch x sequence, single-token decode
// latency with the hidden state carried, evaluation throughput over a corpus split, and model
// load time, each repeated after a warm-up, with full statistics and the raw samples. Output as
// llama-bench-like markdown, JSON, JSON lines or CSV (stable columns). scripts/pytorch_bench.py
// writes the same JSON schema so the two can be merged (scripts/bench_compare.py).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "model/infer.hpp"
#include "nlohmann/json.hpp"
#include "stats/stats.hpp"

namespace wordlm {

struct BenchModel {
  std::string label;   // "seed", or the file name
  std::string source;  // "preset:seed" or the path
  std::string file;    // checkpoint on disk (presets and on-the-fly int8: a temporary)
  std::string dtype;   // "fp32", "int8", "int8+emb", ...
  std::uint64_t file_bytes = 0;
  std::int64_t params = 0;
  Checkpoint ck;
};

enum class BenchKind { Forward, Decode, Eval, Load };

struct BenchTest {
  BenchKind kind = BenchKind::Forward;
  std::int64_t batch = 1, seq = 1;  // forward: batch x seq; decode: batch, seq = tokens per run
  std::string name() const;         // "b1 s10", "decode b1", "eval b10 bptt35", "load"
};

struct BenchOptions {
  int reps = 5;
  bool warmup = true;
  double delay = 0;  // seconds of sleep before each test
  ActGranularity act = ActGranularity::PerRow;
  std::span<const std::int32_t> eval_ids;  // for Eval
  std::string eval_name;                   // e.g. "brown/test.txt"
  std::int64_t bptt = 35;
  std::uint64_t seed = 1;
  std::function<void(const std::string&)> progress;
};

struct BenchResult {
  const BenchModel* model = nullptr;
  int threads = 1;
  BenchTest test;
  std::int64_t tokens = 0;  // per run
  std::vector<double> ms;   // per run (decode: per token)
  Summary ms_stats, tps_stats;
  double rss_mb = 0;        // resident set after the test
  double model_rss_mb = 0;  // resident memory this model added: weights, packing, workspace (approximate)
};

// Random-weight model of a preset (PyTorch initialisation, fixed seed), written to `file`.
BenchModel preset_model(const std::string& preset_name, const std::string& file);
BenchModel file_model(const std::string& path);
// The int8 version of an fp32 model, quantized in memory and written to `file`.
BenchModel quantized_model(const BenchModel& fp32, const std::string& file, WeightGranularity g, bool embedding);

std::vector<BenchResult> run_bench(const std::vector<BenchModel>& models, const std::vector<BenchTest>& tests,
                                   const std::vector<int>& threads, const BenchOptions& opt);

nlohmann::json bench_result_json(const BenchResult& r, bool with_samples = true);
nlohmann::json bench_json(const std::vector<BenchModel>& models, const std::vector<BenchResult>& results,
                          const BenchOptions& opt);
std::string bench_markdown(const std::vector<BenchResult>& results);
std::string bench_csv(const std::vector<BenchResult>& results);
std::string bench_jsonl(const std::vector<BenchResult>& results);

double current_rss_mb();
double peak_rss_mb();

}  // namespace wordlm
