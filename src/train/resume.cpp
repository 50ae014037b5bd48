// Resume checkpoint writing and reading.
#include "train/resume.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <span>

#include "core/fileio.hpp"
#include "fmt/format.h"
#include "io/checkpoint.hpp"
#include "model/convert.hpp"

namespace wordlm {

using json = nlohmann::json;

void to_json(json& j, OptimizerKind k) { j = optimizer_name(k); }
// unknown names throw a json error, which readers report as a malformed file
void from_json(const json& j, OptimizerKind& k) {
  const auto s = j.get<std::string>();
  if (s != "sgd" && s != "adam" && s != "adamw") throw json::other_error::create(501, "unknown optimizer '" + s + "'", &j);
  k = parse_optimizer(s);
}
void to_json(json& j, VocabFrom v) { j = v == VocabFrom::All ? "all" : "train"; }
void from_json(const json& j, VocabFrom& v) {
  const auto s = j.get<std::string>();
  if (s != "all" && s != "train") throw json::other_error::create(501, "vocab_from must be train or all, not '" + s + "'", &j);
  v = s == "all" ? VocabFrom::All : VocabFrom::Train;
}

json corpus_identity(const Corpus& c) {
  return {{"dir", c.dir},
          {"vocab_size", c.vocab.size()},
          {"train", split_identity(c.train)},
          {"valid", split_identity(c.valid)},
          {"test", split_identity(c.test)}};
}

namespace {
const char* const kOptimM = "optim.exp_avg";
const char* const kOptimV = "optim.exp_avg_sq";
const char* const kStateH = "state.h";
const char* const kStateC = "state.c";

Tensor flat(const AlignedBuffer<float>& b, Shape shape) {
  return Tensor::from<float>(std::move(shape), std::span<const float>(b.data(), b.size()));
}

[[noreturn]] void incomplete(const std::string& path, const std::string& what) {
  throw CheckpointError(CheckpointErrc::BadMetadata, path + ": training_state is incomplete: " + what);
}

// Runs fn; a missing or mistyped field or a bad enum name (json errors) becomes BadMetadata.
template <class F>
void reading(const std::string& path, F&& fn) {
  try {
    fn();
  } catch (const json::exception& e) {
    incomplete(path, e.what());
  }
}
}  // namespace

void write_resume(const std::string& path, const LstmLM<float>& model, const Optimizer& opt,
                  const LstmLM<float>::Hidden& hidden, const Position& pos, const TrainOptions& o, const Corpus& corpus) {
  Checkpoint ck = checkpoint_from_model(model, corpus.vocab.words(), json::object());
  ck.kind = "resume";
  ck.training_state = {{"position", fields::write_fields(pos)},
                       {"hyperparameters", fields::write_fields(o)},
                       {"corpus_options", fields::write_fields(o.corpus)},
                       {"save", std::filesystem::absolute(o.save).lexically_normal().string()},
                       {"corpus", corpus_identity(corpus)},
                       {"optimizer_steps", opt.steps()},
                       {"batch", hidden.batch}};
  if (!opt.exp_avg().empty()) {
    const Shape s{static_cast<std::int64_t>(opt.exp_avg().size())};
    ck.extra.emplace(kOptimM, flat(opt.exp_avg(), s));
    ck.extra.emplace(kOptimV, flat(opt.exp_avg_sq(), s));
  }
  const Shape hs{model.config().nlayers, hidden.batch, model.config().nhid};
  ck.extra.emplace(kStateH, flat(hidden.h, hs));
  ck.extra.emplace(kStateC, flat(hidden.c, hs));
  save_checkpoint(path, ck);
}

std::string default_resume_path(const std::string& save) {
  const std::string ext = ".safetensors";
  if (save.size() > ext.size() && save.compare(save.size() - ext.size(), ext.size(), ext) == 0)
    return save.substr(0, save.size() - ext.size()) + ".resume" + ext;
  return save + ".resume";
}

ResumedModel apply_resume_settings(const std::string& resume_path, TrainOptions& o) {
  const Checkpoint ck = load_checkpoint(resume_path);
  if (ck.kind != "resume")
    throw_usage(resume_path + " is a model checkpoint, not a resume checkpoint (lm-train writes those beside the model)");
  ResumedModel m;
  reading(resume_path, [&] {
    fields::read_fields(ck.training_state.at("hyperparameters"), o);
    fields::read_fields(ck.training_state.at("corpus_options"), o.corpus);
    const json& pos = ck.training_state.at("position");
    const auto saved = pos.find("saved_valid_loss");  // absent in files written before it existed
    m.has_saved = saved != pos.end() && !saved->is_null();
    // the recorded path (absolute; files written before it was recorded have none), else the
    // model beside a resume file named the default way (the folder may have moved since)
    const std::string recorded = ck.training_state.value("save", std::string());
    const std::string ext = ".resume.safetensors";
    std::string beside;
    if (resume_path.size() > ext.size() && resume_path.compare(resume_path.size() - ext.size(), ext.size(), ext) == 0)
      beside = resume_path.substr(0, resume_path.size() - ext.size()) + ".safetensors";
    if (!recorded.empty() && file_exists(recorded)) m.path = recorded;
    else if (!beside.empty() && file_exists(beside)) m.path = beside;
    else m.path = !recorded.empty() ? recorded : beside;
  });
  o.model = ck.config;
  o.resume = resume_path;
  return m;
}

namespace {
void check_position(const std::string& path, const Position& p, std::int64_t nwin, std::int64_t optimizer_steps) {
  const bool ok = p.epoch >= 1 && p.batch >= 0 && p.batch <= nwin && p.global_step >= 0 && p.lr > 0 &&
                  std::isfinite(p.lr) && p.epoch_tokens >= 0 && optimizer_steps >= 0 &&
                  (!p.best_val || std::isfinite(*p.best_val)) && (!p.saved_val || std::isfinite(*p.saved_val));
  if (!ok)
    throw CheckpointError(CheckpointErrc::BadMetadata,
                          fmt::format("{}: training_state position is out of range (epoch {}, batch {} of {})", path,
                                      p.epoch, p.batch, nwin));
}

void copy_extra(const Checkpoint& ck, const std::string& path, const char* name, AlignedBuffer<float>& dst) {
  auto it = ck.extra.find(name);
  if (it == ck.extra.end() || static_cast<std::size_t>(it->second.numel()) != dst.size())
    throw CheckpointError(CheckpointErrc::MissingTensor,
                          path + ": resume state '" + name + "' is missing or has the wrong size");
  std::memcpy(dst.data(), it->second.data<float>(), sizeof(float) * dst.size());
}
}  // namespace

Position read_resume(const std::string& path, const Corpus& corpus, const TrainOptions& o, std::int64_t nwin,
                     LstmLM<float>& model, Optimizer& opt, LstmLM<float>::Hidden& hidden) {
  const Checkpoint ck = load_checkpoint(path);
  if (ck.kind != "resume") throw_usage(path + " is not a resume checkpoint");
  if (ck.vocab != corpus.vocab.words())
    throw_usage("cannot resume: the corpus vocabulary differs from the one " + path + " was trained with");
  const json& ts = ck.training_state;
  Position pos;
  std::int64_t steps = 0;
  reading(path, [&] {
    const json& c = ts.at("corpus");
    for (const char* sp : {"train", "valid", "test"})
      if (c.at(sp).at("sha256") != split_identity(corpus.split(sp)).at("sha256"))
        throw_usage(fmt::format("cannot resume: the {} split differs from the one {} was trained on", sp, path));
    if (ts.at("batch").get<std::int64_t>() != o.batch) throw_usage("cannot resume with a different batch size");
    fields::read_fields(ts.at("position"), pos);
    steps = ts.at("optimizer_steps").get<std::int64_t>();
  });
  if (!pos.saved_val) pos.saved_val = pos.best_val;  // files written before the two were told apart
  check_position(path, pos, nwin, steps);
  opt.set_steps(steps);
  load_model_params(model, ck);
  if (!opt.exp_avg().empty()) copy_extra(ck, path, kOptimM, opt.exp_avg()), copy_extra(ck, path, kOptimV, opt.exp_avg_sq());
  copy_extra(ck, path, kStateH, hidden.h);
  copy_extra(ck, path, kStateC, hidden.c);
  return pos;
}

}  // namespace wordlm
