// lm-quantize: an fp32 checkpoint -> an int8 checkpoint (dynamic quantization: int8 weights
// offline, activations quantized at run time). Prints llama-quantize's per-tensor table on
// stderr and the same as JSON on stdout (or --report).
#include <algorithm>
#include <optional>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/sha256.hpp"
#include "core/threads.hpp"
#include "core/timer.hpp"
#include "fmt/format.h"
#include "data/corpus.hpp"
#include "data/vocab.hpp"
#include "io/checkpoint.hpp"
#include "model/eval.hpp"
#include "model/infer.hpp"
#include "quantize/quantize.hpp"
#include "runinfo/runinfo.hpp"

using namespace wordlm;

namespace {
// --max-size --data: the fp32 model and a slice of a corpus split; kl(options) quantizes the
// checkpoint so and measures the mean per-token KL divergence of the result from the fp32 model
// over the slice (lm-eval --compare's measure; one thread, so the choice never depends on cores).
class Calibration {
 public:
  Calibration(const Checkpoint& ck, const std::string& dir, const std::string& split, std::int64_t tokens)
      : ck_(ck), base_(InferenceModel::from_checkpoint(ck)) {
    if (split != "train" && split != "valid" && split != "test") throw_usage("--split " + split + ": expected train, valid or test");
    const Split s = load_split(find_split_file(dir, split), split, Vocab(ck.vocab), false);
    ids_.assign(s.ids.begin(), s.ids.begin() + std::min<std::int64_t>(tokens, s.size()));
    if (ids_.size() < 2) throw_data("--data " + dir + ": the " + split + " split has fewer than 2 tokens");
    opt_.batch = 1;  // a slice of a few thousand tokens: one column keeps every token
    opt_.bptt = 35;
  }
  double kl(const QuantizeOptions& o) {
    const InferenceModel m = InferenceModel::from_checkpoint(quantize_checkpoint(ck_, o).checkpoint);
    const CompareResult r = compare(m, base_, ids_, opt_, pool_);
    double s = 0;
    for (double v : r.kld) s += v;
    return r.kld.empty() ? 0.0 : s / double(r.kld.size());
  }
  std::int64_t tokens() const { return static_cast<std::int64_t>(ids_.size()); }

 private:
  const Checkpoint& ck_;
  InferenceModel base_;
  std::vector<std::int32_t> ids_;
  EvalOptions opt_;
  ThreadPool pool_{1};
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lm-quantize: quantize an fp32 wordlm checkpoint to int8 or 4 bits (LSTM and decoder weights; the\n"
               "embedding with --embedding; --bits, --bits-for, --group). The per-tensor table goes to stderr, the JSON\n"
               "report to stdout (or --report).",
               "lm-quantize"};
  cli::CommonOptions common;
  std::string in, out, granularity = "per-row", report = "-";
  QuantizeOptions qo;
  bool per_tensor = false;
  app.add_option("-m,--model", in, "fp32 checkpoint to quantize")->required();
  app.add_option("-o,--output", out, "Quantized checkpoint to write")->required();
  app.add_option("--granularity", granularity, "Weight scales: per-row (one per output row) or per-tensor")->capture_default_str();
  app.add_flag("--per-tensor", per_tensor, "Same as --granularity per-tensor (PyTorch's quantize_dynamic default)");
  app.add_flag("--embedding", qo.embedding, "Also quantize the embedding table (int8, one scale per row)");
  app.add_option("--keep", qo.keep, "Leave this weight in fp32 (repeatable), e.g. --keep decoder.weight");
  std::vector<std::string> bits_for;
  double max_size_mb = 0;
  app.add_option("--max-size", max_size_mb, "Size budget in MB (10^6 bytes): choose fp32, int8 or 4 bits per weight "
                                            "matrix for the least summed error that fits (ignores --bits, --bits-for, "
                                            "--keep, --embedding)");
  std::string calib_dir, calib_split = "valid";
  std::int64_t calib_tokens = 2000;
  app.add_option("--data", calib_dir, "With --max-size: corpus folder whose --split calibrates the choice (the error of a "
                                      "tensor at 8 or 4 bits is the mean KL divergence from the fp32 model; without "
                                      "--data: the tensor's relative RMS weight error)");
  app.add_option("--split", calib_split, "With --data: the split to calibrate on")->capture_default_str();
  app.add_option("--calib-tokens", calib_tokens, "With --data: tokens of the split to calibrate on (its first N)")
      ->capture_default_str();
  app.add_option("--bits", qo.bits, "Weight bits: 8 (int8, per row) or 4 (symmetric, a scale per row and group)")
      ->capture_default_str();
  app.add_option("--group", qo.group, "4-bit group size along the inputs: a multiple of 8 dividing them (0: the largest "
                                      "such size up to 64, per tensor)")->capture_default_str();
  app.add_option("--bits-for", bits_for, "NAME=BITS: this weight at other bits than --bits (repeatable), e.g. "
                                         "--bits-for decoder.weight=8");
  cli::add_report_option(app, report);
  common.add(app, cli::CommonOptions::Threads::None);
  cli::setup_app(app, "the quantized checkpoint to write (-o/--output)");

  return cli::run(app, argc, argv, [&]() -> int {
    common.apply();
    if (per_tensor && app.count("--granularity") && granularity != "per-tensor")
      throw_usage("--per-tensor and --granularity " + granularity + " contradict each other");
    qo.granularity = per_tensor ? WeightGranularity::PerTensor : parse_weight_granularity(granularity);
    if (qo.bits != 4 && qo.bits != 8) throw_usage("--bits must be 4 or 8");
    if (app.count("--group") && qo.bits != 4 && bits_for.empty())
      throw_usage("--group sets the 4-bit group size: it needs --bits 4 (or a --bits-for NAME=4)");
    if (qo.group < 0) throw_usage("--group must be 0 (automatic) or a positive multiple of 8");
    for (const auto& b : bits_for) {
      const auto eq = b.find('=');
      if (eq == std::string::npos || eq == 0 || (b.substr(eq + 1) != "4" && b.substr(eq + 1) != "8"))
        throw_usage("--bits-for " + b + ": expected NAME=4 or NAME=8");
      const std::string name = b.substr(0, eq);
      if (qo.bits_for.count(name)) throw_usage("--bits-for " + name + " is given twice");
      if (std::find(qo.keep.begin(), qo.keep.end(), name) != qo.keep.end())
        throw_usage("--keep and --bits-for both name " + name + ": keep it fp32, or give its bits");
      qo.bits_for[name] = std::stoi(b.substr(eq + 1));
    }
    cli::check_paths({{"-m", in}, {"--data", calib_dir.empty() ? "" : calib_dir + "/" + calib_split + ".txt"}},
                     {{"--output", out}, {"--report", report}});
    Timer t;
    const Checkpoint ck = load_checkpoint(in);
    for (const auto& k : qo.keep)
      if (!is_quantizable_name(ck.config, k))
        throw_usage("--keep " + k + ": not a weight matrix of this model (" + quantizable_names(ck.config) + ")");
    for (const auto& [k, b] : qo.bits_for)
      if (!is_quantizable_name(ck.config, k))
        throw_usage("--bits-for " + k + ": not a weight matrix of this model (" + quantizable_names(ck.config) + ")");
    nlohmann::json plan_json;
    if (!app.count("--max-size") && (app.count("--data") || app.count("--split") || app.count("--calib-tokens")))
      throw_usage("--data, --split and --calib-tokens calibrate --max-size: give a budget");
    if (app.count("--max-size")) {
      if (!(max_size_mb > 0) || !(max_size_mb <= 1e9))  // (1 PB: also keeps the byte count inside 64 bits)
        throw_usage(fmt::format("--max-size must be a number of MB above 0 and at most 1e9 (got {})", max_size_mb));
      if (calib_tokens < 2) throw_usage("--calib-tokens must be at least 2");
      SizeErrorMeasure measure;
      std::optional<Calibration> calib;
      if (!calib_dir.empty()) {
        calib.emplace(ck, calib_dir, calib_split, calib_tokens);
        measure = [&](const std::string& name, int bits) { return calib->kl(single_tensor_options(ck.config, qo, name, bits)); };
      }
      const SizePlan plan = plan_for_size(ck, qo, static_cast<std::uint64_t>(max_size_mb * 1e6), measure);
      qo = plan.options;
      const char* what = calib ? "mean KL (nats/token) summed" : "relative RMS weight error summed";
      cli::log_info(fmt::format("size budget {:.3f} MB: least {} {:.4g} at a predicted {:.3f} MB", max_size_mb, what,
                                plan.error, plan.predicted_bytes / 1e6));
      plan_json = nlohmann::json::array();
      for (const auto& c : plan.choices) {
        cli::log_info(fmt::format("  {:>22}: {:>5} | error {:.4g} | {:8.3f} MB", c.name,
                                  c.bits == 32 ? std::string("fp32") : fmt::format("{}-bit", c.bits), c.error, c.bytes / 1e6));
        plan_json.push_back({{"name", c.name}, {"bits", c.bits}, {"error", c.error}, {"bytes", c.bytes}});
      }
      plan_json = {{"max_bytes", static_cast<std::uint64_t>(max_size_mb * 1e6)}, {"predicted_bytes", plan.predicted_bytes},
                   {"error", plan.error}, {"choices", plan_json},
                   {"error_measure", calib ? "mean_kl_from_fp32" : "weight_rel_rms"}};
      if (calib) plan_json["calibration"] = {{"data", calib_dir}, {"split", calib_split}, {"tokens", calib->tokens()}};
    }
    QuantizeResult r = quantize_checkpoint(ck, qo);
    r.checkpoint.provenance["quantized_from"] = {{"path", in}, {"sha256", sha256_file(in)}};
    const std::size_t n = r.tensors.size();
    for (std::size_t i = 0; i < n; ++i) {
      const auto& x = r.tensors[i];
      std::string line = fmt::format("[{:3}/{:3}] {:>22} - [{:>6}], type = {:>6}", i + 1, n, x.name,
                                     fmt::format("{}", fmt::join(x.shape, ", ")),
                                     x.quantized ? x.dtype_in + (x.dtype_out == "I8" ? " -> i8" : " -> q4") : std::string("f32"));
      if (x.quantized)
        line += fmt::format(", size = {:8.3f} MB -> {:7.3f} MB | max err {:.2e} | rel rms {:.2e}", x.bytes_in / 1e6,
                            x.bytes_out / 1e6, x.max_abs_err, x.rel_rms_err);
      else
        line += fmt::format(", size = {:8.3f} MB (fp32)", x.bytes_in / 1e6);
      cli::log_info(line);
    }
    save_checkpoint(out, r.checkpoint);
    const double secs = t.seconds();
    const auto fin = file_size(in), fout = file_size(out);
    cli::log_info(fmt::format("model size  = {:8.3f} MB ({} file)", fin / 1e6, in));
    cli::log_info(fmt::format("quant size  = {:8.3f} MB ({} file), {:.2f}x smaller, {:.2f} bits per weight", fout / 1e6,
                              out, double(fin) / double(fout), r.bits_per_weight));
    cli::log_info(fmt::format("quantized {} weights ({}) in {}", r.weights, granularity_name(qo.granularity),
                              cli::human_seconds(secs)));
    nlohmann::json j = {{"tool", "lm-quantize"},
                        {"run", run_info(1)},
                        {"input", {{"path", in}, {"bytes", fin}}},
                        {"output", {{"path", out}, {"bytes", fout}}},
                        {"file_ratio", double(fin) / double(fout)},
                        {"granularity", granularity_name(qo.granularity)},
                        {"embedding", qo.embedding},
                        {"keep", qo.keep},
                        {"bits", qo.bits},
                        {"bits_for", qo.bits_for},
                        {"group", qo.group},
                        {"seconds", secs}};
    j.update(r.to_json());
    if (!plan_json.is_null()) {
      plan_json["actual_bytes"] = fout;
      j["size_plan"] = plan_json;
      cli::log_info(fmt::format("size budget: predicted {:.3f} MB, written {:.3f} MB", plan_json["predicted_bytes"].get<double>() / 1e6,
                                fout / 1e6));
      if (static_cast<std::uint64_t>(fout) > plan_json["max_bytes"].get<std::uint64_t>())
        throw Error(ErrorKind::Internal, "the written file exceeds the size budget (the prediction was wrong)");
    }
    cli::emit_json(j, report);
    return 0;
  });
}
