// Checkpoint quantization.
#include "quantize/quantize.hpp"

#include <algorithm>
#include <span>

#include "core/buildinfo.hpp"
#include "core/error.hpp"
#include "core/half.hpp"
#include "fmt/format.h"

namespace wordlm {

nlohmann::json QuantizeResult::to_json() const {
  nlohmann::json t = nlohmann::json::array();
  for (const auto& r : tensors)
    t.push_back({{"name", r.name}, {"shape", r.shape}, {"dtype_in", r.dtype_in}, {"dtype_out", r.dtype_out},
                 {"bytes_in", r.bytes_in}, {"bytes_out", r.bytes_out}, {"quantized", r.quantized},
                 {"max_abs_err", r.max_abs_err}, {"rel_rms_err", r.rel_rms_err}});
  return {{"tensors", t},
          {"bytes_in", bytes_in},
          {"bytes_out", bytes_out},
          {"ratio", bytes_out ? double(bytes_in) / double(bytes_out) : 0.0},
          {"weights", weights},
          {"bits_per_weight", bits_per_weight}};
}

bool is_quantizable_name(const ModelConfig& cfg, const std::string& name) {
  const auto specs = param_specs(cfg);
  const ParamSpec* s = find_param(specs, name);
  return (s && s->quantizable) || (cfg.tied && name == tied_decoder_copy(cfg).name);
}

QuantizeResult quantize_checkpoint(const Checkpoint& in, const QuantizeOptions& opt) {
  if (in.is_quantized())
    throw CheckpointError(CheckpointErrc::AlreadyQuantized,
                          "the input is already quantized (" + in.quantization.value("scheme", std::string("int8")) +
                              "): quantize the fp32 checkpoint it came from",
                          ErrorKind::Usage);
  if (in.kind != "model")
    throw_usage("the input is a resume checkpoint; quantize the model checkpoint (--save) instead");
  const auto specs = param_specs(in.config);
  const ParamSpec tied_copy = tied_decoder_copy(in.config);
  for (const auto& k : opt.keep)
    if (!is_quantizable_name(in.config, k))
      throw_usage("cannot keep '" + k + "' in fp32: it is not a weight matrix of this model (" +
                  quantizable_names(in.config) + ")");
  auto kept = [&](const std::string& n) { return std::find(opt.keep.begin(), opt.keep.end(), n) != opt.keep.end(); };
  if (opt.bits != 4 && opt.bits != 8) throw_usage("bits must be 4 or 8");
  for (const auto& [n, b] : opt.bits_for) {
    if (!is_quantizable_name(in.config, n))
      throw_usage("cannot set the bits of '" + n + "': it is not a weight matrix of this model (" +
                  quantizable_names(in.config) + ")");
    if (b != 4 && b != 8) throw_usage("bits for '" + n + "' must be 4 or 8");
  }
  auto bits_of = [&](const std::string& n) {
    auto it = opt.bits_for.find(n);
    return it == opt.bits_for.end() ? opt.bits : it->second;
  };

  QuantizeResult res;
  Checkpoint& out = res.checkpoint;
  out.kind = "model";
  out.config = in.config;
  out.vocab = in.vocab;
  out.provenance = in.provenance;
  nlohmann::json int8_names = nlohmann::json::array(), fp32_names = nlohmann::json::array();
  nlohmann::json int4 = nlohmann::json::object();

  auto quantize4_into = [&](const std::string& name, const Tensor& t) {
    const std::int64_t N = t.dim(0), K = t.dim(1);
    const std::int64_t G = opt.group ? opt.group : default_group4(K);
    if (G == 0 || K % G != 0 || G % 8 != 0)
      throw_usage(fmt::format("cannot quantize '{}' ({} inputs) to 4 bits in groups of {}: the group size must be a "
                              "multiple of 8 dividing {} (or keep it at 8 bits: bits for {} = 8)",
                              name, K, G ? G : opt.group, K, name));
    QuantizedWeight4 q = quantize_weight4(t.data<float>(), N, K, G, name);
    const std::vector<std::uint8_t> packed = pack_nibbles(q.q.data(), N, K);
    TensorQuantReport r;
    r.name = name, r.shape = t.shape(), r.dtype_in = "F32", r.bytes_in = t.nbytes();
    Tensor qt = Tensor::from<std::uint8_t>(Shape{N, K / 2}, std::span<const std::uint8_t>(packed));
    Tensor st(DType::F16, Shape{N, K / G});
    auto* sh = reinterpret_cast<std::uint16_t*>(st.bytes());
    for (std::size_t i = 0; i < q.scale.size(); ++i) sh[i] = f32_to_f16(q.scale[i]);
    r.dtype_out = fmt::format("U8 (4-bit, group {})", G);
    r.bytes_out = qt.nbytes() + st.nbytes();
    r.max_abs_err = q.max_abs_err, r.rel_rms_err = q.rel_rms_err, r.quantized = true;
    out.tensors.insert_or_assign(name, std::move(qt));
    out.tensors.insert_or_assign(scale_name(name), std::move(st));
    int4[name] = {{"group_size", G}};
    return r;
  };

  auto quantize_into = [&](const std::string& name, const Tensor& t, WeightGranularity g) {
    TensorQuantReport r;
    r.name = name;
    r.shape = t.shape();
    r.dtype_in = "F32";
    r.bytes_in = t.nbytes();
    const std::int64_t N = t.dim(0), K = t.dim(1);
    QuantizedWeight q = quantize_weight(t.data<float>(), N, K, g, name);
    Tensor qt = Tensor::from<std::int8_t>(t.shape(), std::span<const std::int8_t>(q.q));
    const Shape sshape = g == WeightGranularity::PerRow ? Shape{N, 1} : Shape{1};
    Tensor st = Tensor::from<float>(sshape, std::span<const float>(q.scale));
    r.dtype_out = "I8";
    r.bytes_out = qt.nbytes() + st.nbytes();
    r.max_abs_err = q.max_abs_err;
    r.rel_rms_err = q.rel_rms_err;
    r.quantized = true;
    out.tensors.insert_or_assign(name, std::move(qt));
    out.tensors.insert_or_assign(scale_name(name), std::move(st));
    int8_names.push_back(name);
    return r;
  };

  for (const auto& s : specs) {
    const Tensor& t = in.tensor(s.name);
    res.weights += t.numel();
    const bool want = s.quantizable && !kept(s.name) && (s.role != ParamRole::Embedding || opt.embedding);
    if (want) {
      // the embedding is always per row: a lookup dequantizes one row with its own scale
      const auto g = s.role == ParamRole::Embedding ? WeightGranularity::PerRow : opt.granularity;
      res.tensors.push_back(bits_of(s.name) == 4 ? quantize4_into(s.name, t) : quantize_into(s.name, t, g));
    } else {
      TensorQuantReport r;
      r.name = s.name, r.shape = t.shape(), r.dtype_in = r.dtype_out = "F32";
      r.bytes_in = r.bytes_out = t.nbytes();
      res.tensors.push_back(r);
      out.tensors.insert_or_assign(s.name, t);
      fp32_names.push_back(s.name);
    }
  }
  // Tied model, fp32 embedding: the decoder still runs int8 from its own quantized copy (as
  // PyTorch's quantize_dynamic does); it costs one int8 [V, H] tensor in the file.
  if (in.config.tied && !opt.embedding && !kept(tied_copy.name)) {
    const Tensor& emb = in.tensor(find_param(specs, in.config, ParamRole::Embedding).name);
    auto r = bits_of(tied_copy.name) == 4 ? quantize4_into(tied_copy.name, emb) : quantize_into(tied_copy.name, emb, opt.granularity);
    r.bytes_in = 0;  // the fp32 file had no separate decoder tensor
    r.dtype_in = "(tied)";
    res.tensors.push_back(r);
  }
  for (const auto& r : res.tensors) res.bytes_in += r.bytes_in, res.bytes_out += r.bytes_out;
  res.bits_per_weight = res.weights ? 8.0 * double(res.bytes_out) / double(res.weights) : 0.0;

  out.quantization = {{"scheme", int4.empty() ? "wordlm-int8-dynamic" : "wordlm-int4-int8-dynamic"},
                      {"weights", {{"dtype", "int8"}, {"symmetric", true}, {"range", {-127, 127}},
                                   {"granularity", granularity_name(opt.granularity)}}},
                      {"activations", {{"dtype", "uint8"}, {"range", {0, 127}}, {"zero_point", true},
                                       {"granularity", "chosen at run time (per-row default, per-tensor option)"}}},
                      {"embedding", !opt.embedding ? "fp32"
                                    : bits_of(find_param(specs, in.config, ParamRole::Embedding).name) == 4 ? "4-bit grouped"
                                                                                                            : "int8 per-row"},
                      {"int8_tensors", int8_names},
                      {"int4_tensors", int4},
                      {"fp32_tensors", fp32_names},
                      {"bits_per_weight", res.bits_per_weight},
                      {"tool", "lm-quantize"},
                      {"tool_version", build::kVersion},
                      {"git_revision", build::kGitRevision}};
  nlohmann::json errs = nlohmann::json::object();
  for (const auto& r : res.tensors)
    if (r.quantized) errs[r.name] = {{"max_abs_err", r.max_abs_err}, {"rel_rms_err", r.rel_rms_err}};
  out.quantization["errors"] = errs;
  return res;
}

QuantizeOptions single_tensor_options(const ModelConfig& cfg, const QuantizeOptions& base, const std::string& name, int bits) {
  QuantizeOptions o = base;
  o.bits = bits;
  o.bits_for.clear();
  o.keep.clear();
  const auto specs = param_specs(cfg);
  const std::string emb = find_param(specs, cfg, ParamRole::Embedding).name;
  o.embedding = name == emb;
  for (const auto& s : specs)
    if (s.quantizable && s.name != name && s.role != ParamRole::Embedding) o.keep.push_back(s.name);
  if (cfg.tied && name != emb) o.keep.push_back(tied_decoder_copy(cfg).name);
  if (cfg.tied && name == emb) o.embedding = true;  // one table serves both
  return o;
}

SizePlan plan_for_size(const Checkpoint& in, const QuantizeOptions& base, std::uint64_t max_bytes,
                       const SizeErrorMeasure& measure) {
  const auto specs = param_specs(in.config);
  // the file's fixed part: everything but the weight matrices (biases, header, vocabulary, metadata)
  const std::string fp32_file = serialize_checkpoint(in);
  std::uint64_t fixed = fp32_file.size() + 4096;  // + the quantization metadata (a few kB)
  struct Option {
    int bits;
    double error;
    std::uint64_t bytes;
  };
  std::vector<std::string> names;
  std::vector<std::vector<Option>> opts;
  for (const auto& s : specs) {
    if (!s.quantizable) continue;
    const Tensor& t = in.tensor(s.name);
    const std::int64_t N = t.dim(0), K = t.dim(1);
    fixed -= t.nbytes();
    std::vector<Option> o{{32, 0.0, t.nbytes()}};
    // the embedding is always per row (a lookup dequantizes one row)
    const auto g = s.role == ParamRole::Embedding ? WeightGranularity::PerRow : base.granularity;
    const QuantizedWeight q8 = quantize_weight(t.data<float>(), N, K, g, s.name);
    o.push_back({8, measure ? measure(s.name, 8) : q8.rel_rms_err, static_cast<std::uint64_t>(N * K + 4 * q8.scale.size())});
    const std::int64_t G = base.group ? base.group : default_group4(K);
    if (G >= 8 && G % 8 == 0 && K % G == 0) {
      const QuantizedWeight4 q4 = quantize_weight4(t.data<float>(), N, K, G, s.name);
      o.push_back({4, measure ? measure(s.name, 4) : q4.rel_rms_err, static_cast<std::uint64_t>(N * (K / 2) + 2 * N * (K / G))});
    }
    names.push_back(s.name);
    opts.push_back(std::move(o));
  }
  // every combination, as a mixed-radix counter: 3^n of them, n = 2 x layers + 2. Up to n = 16
  // (7 layers; 4.3e7 combinations, about a second) that is exact and quick; beyond it, refused
  // rather than left running for hours.
  constexpr std::size_t kMaxSearched = 16;
  if (names.size() > kMaxSearched)
    throw_usage(fmt::format("a size budget searches every choice of bits for the weight matrices; this model has {} "
                            "(at most {}, i.e. 7 layers): choose the bits per matrix yourself instead",
                            names.size(), kMaxSearched));
  std::vector<std::size_t> pick(names.size(), 0), best;
  double best_err = 0;
  std::uint64_t best_bytes = 0, min_bytes = fixed;
  for (const auto& o : opts) {
    std::uint64_t m = o[0].bytes;
    for (const auto& x : o) m = std::min(m, x.bytes);
    min_bytes += m;
  }
  for (;;) {
    double err = 0;
    std::uint64_t bytes = fixed;
    for (std::size_t i = 0; i < names.size(); ++i) err += opts[i][pick[i]].error, bytes += opts[i][pick[i]].bytes;
    if (bytes <= max_bytes && (best.empty() || err < best_err || (err == best_err && bytes < best_bytes)))
      best = pick, best_err = err, best_bytes = bytes;
    std::size_t i = 0;
    while (i < pick.size() && ++pick[i] == opts[i].size()) pick[i++] = 0;
    if (i == pick.size()) break;
  }
  if (best.empty())
    throw_usage(fmt::format("no choice of fp32, int8 and 4-bit tensors fits in {:.3f} MB: the smallest is about {:.3f} MB",
                            double(max_bytes) / 1e6, double(min_bytes) / 1e6));
  SizePlan plan;
  plan.options = base;
  plan.options.bits = 8;
  plan.options.keep.clear();
  plan.options.bits_for.clear();
  plan.options.embedding = false;
  plan.predicted_bytes = best_bytes;
  plan.error = best_err;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const Option& o = opts[i][best[i]];
    plan.choices.push_back({names[i], o.bits, o.error, o.bytes});
    const bool emb = names[i] == find_param(specs, in.config, ParamRole::Embedding).name;
    if (emb) plan.options.embedding = o.bits != 32;
    if (o.bits == 32 && !emb) plan.options.keep.push_back(names[i]);
    if (o.bits == 32 && emb && in.config.tied) plan.options.keep.push_back(tied_decoder_copy(in.config).name);  // fp32 for both
    if (o.bits != 32) plan.options.bits_for[names[i]] = o.bits;
  }
  return plan;
}

}  // namespace wordlm
