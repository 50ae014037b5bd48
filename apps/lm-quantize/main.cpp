// lm-quantize: an fp32 checkpoint -> an int8 checkpoint (dynamic quantization: int8 weights
// offline, activations quantized at run time). Prints llama-quantize's per-tensor table on
// stderr and the same as JSON on stdout (or --report).
#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/sha256.hpp"
#include "core/timer.hpp"
#include "fmt/format.h"
#include "io/checkpoint.hpp"
#include "quantize/quantize.hpp"
#include "runinfo/runinfo.hpp"

using namespace wordlm;

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
    qo.granularity = per_tensor ? WeightGranularity::PerTensor : parse_weight_granularity(granularity);
    if (qo.bits != 4 && qo.bits != 8) throw_usage("--bits must be 4 or 8");
    if (qo.group < 0) throw_usage("--group must be 0 (automatic) or a positive multiple of 8");
    for (const auto& b : bits_for) {
      const auto eq = b.find('=');
      if (eq == std::string::npos || eq == 0 || (b.substr(eq + 1) != "4" && b.substr(eq + 1) != "8"))
        throw_usage("--bits-for " + b + ": expected NAME=4 or NAME=8");
      qo.bits_for[b.substr(0, eq)] = std::stoi(b.substr(eq + 1));
    }
    cli::check_not_same(in, out, "--output");
    cli::check_not_same(in, report, "--report");
    Timer t;
    const Checkpoint ck = load_checkpoint(in);
    for (const auto& k : qo.keep)
      if (!is_quantizable_name(ck.config, k))
        throw_usage("--keep " + k + ": not a weight matrix of this model (" + quantizable_names(ck.config) + ")");
    for (const auto& [k, b] : qo.bits_for)
      if (!is_quantizable_name(ck.config, k))
        throw_usage("--bits-for " + k + ": not a weight matrix of this model (" + quantizable_names(ck.config) + ")");
    nlohmann::json plan_json;
    if (app.count("--max-size")) {
      if (!(max_size_mb > 0)) throw_usage("--max-size must be a positive number of MB");
      const SizePlan plan = plan_for_size(ck, qo, static_cast<std::uint64_t>(max_size_mb * 1e6));
      qo = plan.options;
      cli::log_info(fmt::format("size budget {:.3f} MB: least summed error {:.4f} at a predicted {:.3f} MB", max_size_mb,
                                plan.error, plan.predicted_bytes / 1e6));
      plan_json = nlohmann::json::array();
      for (const auto& c : plan.choices) {
        cli::log_info(fmt::format("  {:>22}: {:>4} | error {:.4f} | {:8.3f} MB", c.name,
                                  c.bits == 32 ? std::string("fp32") : fmt::format("{}-bit", c.bits), c.error, c.bytes / 1e6));
        plan_json.push_back({{"name", c.name}, {"bits", c.bits}, {"error", c.error}, {"bytes", c.bytes}});
      }
      plan_json = {{"max_bytes", static_cast<std::uint64_t>(max_size_mb * 1e6)}, {"predicted_bytes", plan.predicted_bytes},
                   {"error", plan.error}, {"choices", plan_json}};
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
