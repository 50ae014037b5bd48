// Checkpoint profile: metadata encoding and model-level validation.
#include "io/checkpoint.hpp"

#include <cmath>
#include <optional>
#include <set>

#include "core/buildinfo.hpp"
#include "core/half.hpp"
#include "core/utf8.hpp"
#include "data/vocab.hpp"

namespace wordlm {

using json = nlohmann::json;

namespace {

// wordlm's own metadata (config, vocabulary, provenance, quantization, training state) nests at
// most ~6 deep; deeper JSON would only be a way to exhaust the stack of recursive copies.
constexpr int kMaxMetadataDepth = 16;

[[noreturn]] void reject(CheckpointErrc code, const std::string& label, const std::string& what) {
  throw CheckpointError(code, label + ": " + what);
}

json parse_meta_json(const std::map<std::string, std::string>& md, const std::string& key, const std::string& label,
                     bool required) {
  auto it = md.find(key);
  if (it == md.end()) {
    if (required) reject(CheckpointErrc::BadMetadata, label, "metadata '" + key + "' is missing");
    return nullptr;
  }
  if (const auto shape = utf8::json_shape(it->second); shape.max_depth > kMaxMetadataDepth)
    reject(CheckpointErrc::BadMetadata, label,
           "metadata '" + key + "' nests " + std::to_string(shape.max_depth) + " levels deep (at most " +
               std::to_string(kMaxMetadataDepth) + ")");
  try {
    return json::parse(it->second);
  } catch (const json::exception& e) {
    reject(CheckpointErrc::BadMetadata, label, "metadata '" + key + "' is not valid JSON: " + e.what());
  }
}

void check_finite(const Tensor& t, const std::string& name, const std::string& label) {
  const float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(p[i]))
      reject(CheckpointErrc::NonFinite, label,
             "tensor '" + name + "' holds " + (std::isnan(p[i]) ? "NaN" : "Inf") + " at element " + std::to_string(i));
}

// The int8 rules for one quantized tensor q of spec s (its scale tensor already taken from the
// file, or absent): scales F32 of shape [rows, 1] (per row) or [1] (per tensor), finite and > 0;
// codes in [-127, 127]. Returns the scale tensor.
Tensor check_int8(const ParamSpec& s, const Tensor& q, std::optional<Tensor> scale, const std::string& label) {
  const std::string sname = scale_name(s.name);
  if (!scale) reject(CheckpointErrc::MissingScale, label, "int8 tensor '" + s.name + "' has no '" + sname + "'");
  const Shape per_row{s.rows(), 1}, per_tensor{1};
  if (scale->dtype() != DType::F32 || (scale->shape() != per_row && scale->shape() != per_tensor))
    reject(CheckpointErrc::BadScale, label,
           "'" + sname + "' must be F32 of shape " + shape_str(per_row) + " or [1], not " +
               std::string(dtype_name(scale->dtype())) + " " + shape_str(scale->shape()));
  const float* sp = scale->data<float>();
  for (std::int64_t i = 0; i < scale->numel(); ++i)
    if (!(std::isfinite(sp[i]) && sp[i] > 0.0f))
      reject(CheckpointErrc::BadScale, label,
             "'" + sname + "' element " + std::to_string(i) + " is " + std::to_string(sp[i]) +
                 " (scales must be finite and > 0)");
  const std::int8_t* v = q.data<std::int8_t>();
  for (std::int64_t i = 0; i < q.numel(); ++i)
    if (v[i] == -128)
      reject(CheckpointErrc::OutOfRange, label,
             "int8 tensor '" + s.name + "' holds -128 at element " + std::to_string(i) +
                 " (the scheme is symmetric, [-127, 127])");
  return std::move(*scale);
}

// The 4-bit rules for one packed tensor q (U8) of spec s: a group size G for it in the
// quantization metadata ("int4_tensors": {NAME: {"group_size": G}}), a positive multiple of 8
// dividing the columns K; q of shape [rows, K / 2]; NAME_scale F16 [rows, K / G], finite, > 0.
Tensor check_int4(const ParamSpec& s, const Tensor& q, std::optional<Tensor> scale, const nlohmann::json& quant,
                  const std::string& label) {
  const std::int64_t rows = s.rows(), K = s.shape[1];
  const nlohmann::json* g = nullptr;
  if (quant.is_object() && quant.contains("int4_tensors") && quant["int4_tensors"].is_object() &&
      quant["int4_tensors"].contains(s.name) && quant["int4_tensors"][s.name].is_object() &&
      quant["int4_tensors"][s.name].contains("group_size"))
    g = &quant["int4_tensors"][s.name]["group_size"];
  if (!g || !g->is_number_integer())
    reject(CheckpointErrc::BadGroup, label, "4-bit tensor '" + s.name + "' has no integer group size in the 'quantization' metadata");
  const auto G = g->get<std::int64_t>();
  if (G < 8 || G % 8 != 0 || K % G != 0)
    reject(CheckpointErrc::BadGroup, label,
           "4-bit tensor '" + s.name + "': group size " + std::to_string(G) + " is not a multiple of 8 dividing its " +
               std::to_string(K) + " columns");
  if (q.shape() != Shape{rows, K / 2})
    reject(CheckpointErrc::BadPacking, label,
           "4-bit tensor '" + s.name + "' has shape " + shape_str(q.shape()) + "; packed pairs of " + shape_str(s.shape) +
               " need " + shape_str(Shape{rows, K / 2}));
  const std::string sname = scale_name(s.name);
  if (!scale) reject(CheckpointErrc::MissingScale, label, "4-bit tensor '" + s.name + "' has no '" + sname + "'");
  const Shape want{rows, K / G};
  if (scale->dtype() != DType::F16 || scale->shape() != want)
    reject(CheckpointErrc::BadScale, label,
           "'" + sname + "' must be F16 of shape " + shape_str(want) + ", not " + std::string(dtype_name(scale->dtype())) +
               " " + shape_str(scale->shape()));
  const auto* sp = reinterpret_cast<const std::uint16_t*>(scale->bytes());
  for (std::int64_t i = 0; i < scale->numel(); ++i)
    if (const float v = f16_to_f32(sp[i]); !(std::isfinite(v) && v > 0.0f))
      reject(CheckpointErrc::BadScale, label,
             "'" + sname + "' element " + std::to_string(i) + " is " + std::to_string(v) + " (scales must be finite and > 0)");
  return std::move(*scale);
}

}  // namespace

std::int64_t Checkpoint::group_size(const std::string& name) const {
  return quantization.at("int4_tensors").at(name).at("group_size").get<std::int64_t>();
}

const Tensor* Checkpoint::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

const Tensor& Checkpoint::tensor(const std::string& name) const {
  const Tensor* t = find(name);
  WORDLM_CHECK(t != nullptr, "checkpoint has no tensor " + name);
  return *t;
}

std::uint64_t Checkpoint::tensor_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [_, t] : tensors) n += t.nbytes();
  return n;
}

Checkpoint checkpoint_from_safetensors(Safetensors st, const std::string& label) {
  const auto& md = st.metadata;
  auto fmt_it = md.find("format");
  if (fmt_it == md.end() || fmt_it->second != "wordlm")
    reject(CheckpointErrc::NotWordlm, label,
           "not a wordlm checkpoint (no \"format\": \"wordlm\" metadata); to bring in a PyTorch "
           "word_language_model checkpoint use scripts/import_pytorch.py");
  auto ver_it = md.find("format_version");
  if (ver_it == md.end()) reject(CheckpointErrc::BadMetadata, label, "metadata 'format_version' is missing");
  int version = 0;
  try {
    std::size_t used = 0;
    version = std::stoi(ver_it->second, &used);
    if (used != ver_it->second.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    reject(CheckpointErrc::BadMetadata, label, "metadata 'format_version' is not an integer: '" + ver_it->second + "'");
  }
  if (version > kFormatVersion)
    reject(CheckpointErrc::NewerVersion, label,
           "written with checkpoint format version " + std::to_string(version) + "; this wordlm reads up to version " +
               std::to_string(kFormatVersion) + " - upgrade wordlm");
  if (version < 1) reject(CheckpointErrc::BadMetadata, label, "format_version " + std::to_string(version) + " is invalid");

  Checkpoint ck;
  auto kind_it = md.find("kind");
  ck.kind = kind_it == md.end() ? "model" : kind_it->second;
  if (ck.kind != "model" && ck.kind != "resume")
    reject(CheckpointErrc::BadMetadata, label, "metadata 'kind' must be \"model\" or \"resume\", not '" + ck.kind + "'");

  try {
    ck.config = ModelConfig::from_json(parse_meta_json(md, "config", label, true));
  } catch (const CheckpointError&) {
    throw;
  } catch (const Error& e) {
    reject(CheckpointErrc::BadMetadata, label, e.what());
  }
  const json vocab = parse_meta_json(md, "vocab", label, true);
  if (!vocab.is_array()) reject(CheckpointErrc::BadMetadata, label, "metadata 'vocab' is not a JSON array");
  if (static_cast<std::int64_t>(vocab.size()) != ck.config.vocab_size)
    reject(CheckpointErrc::BadMetadata, label,
           "vocabulary has " + std::to_string(vocab.size()) + " words but the config says vocab_size " +
               std::to_string(ck.config.vocab_size));
  ck.vocab.reserve(vocab.size());
  for (const auto& w : vocab) {
    if (!w.is_string()) reject(CheckpointErrc::BadMetadata, label, "vocabulary entry is not a string");
    ck.vocab.push_back(w.get<std::string>());
  }
  try {
    Vocab check(ck.vocab);  // rejects empty and duplicate words
  } catch (const Error& e) {
    reject(CheckpointErrc::BadMetadata, label, e.what());
  }
  ck.provenance = parse_meta_json(md, "provenance", label, false);
  if (ck.provenance.is_null()) ck.provenance = json::object();
  ck.quantization = parse_meta_json(md, "quantization", label, false);
  if (!ck.quantization.is_null() && !ck.quantization.is_object())
    reject(CheckpointErrc::BadMetadata, label, "metadata 'quantization' is not a JSON object");
  ck.training_state = parse_meta_json(md, "training_state", label, ck.kind == "resume");

  std::map<std::string, Tensor> pool;
  for (auto& [name, t] : st.tensors) pool.emplace(name, std::move(t));
  auto take = [&](const std::string& name) -> std::optional<Tensor> {
    auto it = pool.find(name);
    if (it == pool.end()) return std::nullopt;
    Tensor t = std::move(it->second);
    pool.erase(it);
    return t;
  };

  bool any_i8 = false;
  for (const auto& spec : param_specs(ck.config)) {
    std::optional<Tensor> t = take(spec.name);
    if (!t) reject(CheckpointErrc::MissingTensor, label, "tensor '" + spec.name + "' is missing");
    if (t->dtype() == DType::U8 && spec.quantizable) {
      any_i8 = true;
      ck.tensors.emplace(scale_name(spec.name), check_int4(spec, *t, take(scale_name(spec.name)), ck.quantization, label));
      ck.tensors.emplace(spec.name, std::move(*t));
      continue;
    }
    if (t->shape() != spec.shape)
      reject(CheckpointErrc::ShapeMismatch, label,
             "tensor '" + spec.name + "' has shape " + shape_str(t->shape()) + ", the config needs " + shape_str(spec.shape));
    if (t->dtype() == DType::I8 && spec.quantizable) {
      any_i8 = true;
      ck.tensors.emplace(scale_name(spec.name), check_int8(spec, *t, take(scale_name(spec.name)), label));
    } else if (t->dtype() == DType::F32) {
      check_finite(*t, spec.name, label);
    } else {
      reject(CheckpointErrc::DtypeMismatch, label,
             "tensor '" + spec.name + "' is " + std::string(dtype_name(t->dtype())) + "; expected F32" +
                 (spec.quantizable ? ", I8 or U8 (4-bit)" : ""));
    }
    ck.tensors.emplace(spec.name, std::move(*t));
  }
  // A tied model may carry a separately quantized decoder (int8 decoder, fp32 embedding).
  if (ck.config.tied) {
    const ParamSpec copy = tied_decoder_copy(ck.config);
    if (std::optional<Tensor> t = take(copy.name)) {
      const Tensor& emb = ck.tensors.at(find_param(param_specs(ck.config), ck.config, ParamRole::Embedding).name);
      if ((t->dtype() != DType::I8 && t->dtype() != DType::U8) || emb.dtype() != DType::F32)
        reject(CheckpointErrc::UnexpectedTensor, label,
               "tied model stores '" + copy.name + "'; only a quantized decoder beside an fp32 embedding may be stored");
      any_i8 = true;
      if (t->dtype() == DType::U8) {
        ck.tensors.emplace(scale_name(copy.name), check_int4(copy, *t, take(scale_name(copy.name)), ck.quantization, label));
      } else {
        if (t->shape() != copy.shape)
          reject(CheckpointErrc::ShapeMismatch, label, "tied '" + copy.name + "' shape differs from 'encoder.weight'");
        ck.tensors.emplace(scale_name(copy.name), check_int8(copy, *t, take(scale_name(copy.name)), label));
      }
      ck.tensors.emplace(copy.name, std::move(*t));
    }
  }
  if (any_i8 && ck.quantization.is_null())
    reject(CheckpointErrc::BadMetadata, label, "quantized tensors present but no 'quantization' metadata");
  for (auto& [name, t] : pool) {
    const bool resume_extra = ck.kind == "resume" && (name.rfind("optim.", 0) == 0 || name.rfind("state.", 0) == 0);
    if (!resume_extra) reject(CheckpointErrc::UnexpectedTensor, label, "unexpected tensor '" + name + "'");
    if (t.dtype() != DType::F32) reject(CheckpointErrc::DtypeMismatch, label, "tensor '" + name + "' must be F32");
    ck.extra.emplace(name, std::move(t));
  }
  return ck;
}

Checkpoint load_checkpoint(const std::string& path) { return checkpoint_from_safetensors(read_safetensors(path), path); }

namespace {
std::vector<TensorRef> refs_of(const Checkpoint& ck) {
  std::vector<TensorRef> refs;
  std::set<std::string> placed;
  auto put = [&](const std::string& n) {
    if (auto t = ck.find(n); t && placed.insert(n).second) refs.push_back({n, t});
  };
  for (const auto& spec : param_specs(ck.config)) {
    put(spec.name);
    put(scale_name(spec.name));
  }
  if (ck.config.tied) {
    put(tied_decoder_copy(ck.config).name);
    put(scale_name(tied_decoder_copy(ck.config).name));
  }
  for (const auto& [n, _] : ck.tensors) put(n);
  for (const auto& [n, t] : ck.extra) refs.push_back({n, &t});
  return refs;
}

std::map<std::string, std::string> metadata_of(const Checkpoint& ck) {
  std::map<std::string, std::string> md;
  md["format"] = "wordlm";
  md["format_version"] = std::to_string(kFormatVersion);
  md["kind"] = ck.kind;
  md["config"] = ck.config.to_json().dump();
  md["vocab"] = json(ck.vocab).dump();
  json prov = ck.provenance.is_object() ? ck.provenance : json::object();
  if (!prov.contains("tool_version")) prov["tool_version"] = build::kVersion;
  if (!prov.contains("git_revision")) prov["git_revision"] = build::kGitRevision;
  md["provenance"] = prov.dump();
  if (!ck.quantization.is_null()) md["quantization"] = ck.quantization.dump();
  if (!ck.training_state.is_null()) md["training_state"] = ck.training_state.dump();
  return md;
}
}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  write_safetensors(path, refs_of(ck), metadata_of(ck));
}

std::string serialize_checkpoint(const Checkpoint& ck) { return serialize_safetensors(refs_of(ck), metadata_of(ck)); }

}  // namespace wordlm
