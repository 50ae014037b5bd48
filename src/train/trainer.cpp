// The training loop in named steps: setup (options, corpus checks, model, resume), a batch, an
// epoch end, a stop, the final test. State that outlives a step lives in the Trainer's members;
// what a resumed run needs is the Position (train/records.hpp).
#include "train/trainer.hpp"

#include <cmath>
#include <memory>

#include "core/buildinfo.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/timer.hpp"
#include "data/batchify.hpp"
#include "fmt/format.h"
#include "io/checkpoint.hpp"
#include "model/convert.hpp"
#include "model/eval.hpp"
#include "model/infer.hpp"
#include "model/lstm_lm.hpp"
#include "quantize/quantize.hpp"
#include "runinfo/runinfo.hpp"
#include "train/resume.hpp"

namespace wordlm {

using json = nlohmann::json;

std::string default_resume_path(const std::string& save) {
  const std::string ext = ".safetensors";
  if (save.size() > ext.size() && save.compare(save.size() - ext.size(), ext.size(), ext) == 0)
    return save.substr(0, save.size() - ext.size()) + ".resume" + ext;
  return save + ".resume";
}

const char* stop_reason_name(StopReason r) noexcept {
  switch (r) {
    case StopReason::Completed: return "completed";
    case StopReason::Interrupted: return "interrupted";
    case StopReason::TimeBudget: return "time budget";
    case StopReason::BatchLimit: return "batch limit";
  }
  return "?";
}

namespace {

// Option checks; messages name the setting, not a command-line flag (the library knows none).
void check_options(TrainOptions& o, const Corpus& corpus) {
  if (o.batch < 1) throw_usage(fmt::format("batch size must be at least 1 (got {})", o.batch));
  if (o.bptt < 1) throw_usage(fmt::format("bptt must be at least 1 (got {})", o.bptt));
  if (o.eval_batch < 1) throw_usage(fmt::format("eval batch size must be at least 1 (got {})", o.eval_batch));
  if (o.epochs < 1) throw_usage(fmt::format("epochs must be at least 1 (got {})", o.epochs));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw_usage(fmt::format("learning rate must be a positive number (got {})", o.lr));
  if (!(o.clip >= 0) || !std::isfinite(o.clip)) throw_usage(fmt::format("gradient clip must be >= 0 (got {})", o.clip));
  if (o.log_interval < 1) throw_usage(fmt::format("log interval must be at least 1 (got {})", o.log_interval));
  if (o.max_minutes < 0 || !std::isfinite(o.max_minutes)) throw_usage("time budget must be >= 0 minutes");
  if (o.max_batches < 0) throw_usage("batch limit must be >= 0");
  if (o.save_resume.empty()) o.save_resume = default_resume_path(o.save);
  o.model.vocab_size = corpus.vocab.size();
  o.model.validate(ErrorKind::Usage);
  for (const Split* s : {&corpus.valid, &corpus.test})
    if (s->size() < 2 * o.eval_batch)
      throw_data(fmt::format("the {} split has {} tokens: too few for eval batch size {} (need at least {})", s->name,
                             s->size(), o.eval_batch, 2 * o.eval_batch));
  for (const Split* s : {&corpus.train, &corpus.valid, &corpus.test})
    if (same_file(o.save, s->path)) throw_usage("the model path " + o.save + " is one of the corpus files");
}

class Trainer {
 public:
  Trainer(const Corpus& corpus, TrainOptions o, const TrainSeams& seams);
  TrainResult run();

 private:
  void restore_or_init();
  bool run_batch();  // one window; true when the run must stop after it
  void log_interval();
  void end_epoch();
  void stop();
  TrainResult finish();
  EvalResult validate();
  InferenceModel eval_model(const Checkpoint* saved) const;
  void save_best(double val_loss);
  EpochRecord epoch_record(const EvalResult& val) const;
  void add_curve_point(const char* kind, double loss, std::int64_t batches_done);
  std::string saved_note() const { return pos_.saved_val ? o_.save + " is intact" : "no model was saved"; }
  void log(const std::string& s) const {
    if (o_.log) o_.log(s);
  }

  const Corpus& corpus_;
  TrainOptions o_;
  GradientSync default_sync_;
  GradientSync& sync_;
  Batched train_data_;
  std::int64_t nwin_ = 0, shown_batches_ = 0;
  ThreadPool pool_;
  LstmLM<float> model_;
  Optimizer optimizer_;
  LstmLM<float>::Hidden hidden_;
  Position pos_;
  json provenance_base_;
  // this invocation
  Timer run_timer_, epoch_timer_, interval_timer_;
  double epoch_seconds_before_ = 0;
  double train_seconds_ = 0;
  std::int64_t train_tokens_ = 0, batches_run_ = 0;
  double interval_loss_ = 0;
  std::int64_t interval_batches_ = 0, interval_tokens_ = 0;
  StopReason stop_reason_ = StopReason::Completed;
  bool mid_epoch_ = false;
  std::optional<PartialEpoch> partial_;
  std::unique_ptr<FakeQuantTransform> qat_transform_;
};

Trainer::Trainer(const Corpus& corpus, TrainOptions o, const TrainSeams& seams)
    : corpus_(corpus),
      o_((check_options(o, corpus), std::move(o))),
      sync_(seams.sync ? *seams.sync : default_sync_),
      train_data_(batchify(corpus.train.ids, o_.batch)),
      nwin_(num_windows(train_data_.rows, o_.bptt)),
      shown_batches_(train_data_.rows / o_.bptt),  // pytorch's len(train_data) // bptt
      pool_(o_.threads),
      model_(o_.model),
      optimizer_(o_.optim, model_.params.size()) {
  if (nwin_ == 0)
    throw_data(fmt::format("the train split has {} tokens: too few for batch size {} (need at least {})",
                           corpus.train.size(), o_.batch, 2 * o_.batch));
  model_.profile.enable(o_.profile);
  if (o_.qat.on && !seams.transform) qat_transform_ = std::make_unique<FakeQuantTransform>(o_.model, o_.qat);
  model_.set_weight_transform(seams.transform ? seams.transform : qat_transform_.get());
  hidden_.reset(o_.model, o_.batch);
  pos_.lr = o_.lr;
  provenance_base_ = {{"corpus", corpus_identity(corpus)},
                      {"corpus_options", fields::write_fields(o_.corpus)},
                      {"hyperparameters", fields::write_fields(o_)},
                      {"tool", "lm-train"},
                      {"tool_version", build::kVersion},
                      {"git_revision", build::kGitRevision}};
}

void Trainer::restore_or_init() {
  if (o_.resume.empty() && !o_.init.empty()) {
    const Checkpoint ck = load_checkpoint(o_.init);
    if (ck.config.to_json() != o_.model.to_json())
      throw_usage(o_.init + ": its model (" + ck.config.describe() + ") differs from the one to train (" +
                  o_.model.describe() + ")");
    if (ck.vocab != corpus_.vocab.words())
      throw_usage(o_.init + ": its vocabulary differs from this corpus's (train on the corpus it was trained on)");
    load_model_params(model_, ck);
    log(fmt::format("initialized from {} ({})", o_.init, ck.config.describe()));
    return;
  }
  if (o_.resume.empty()) {
    Rng rng(o_.seed);
    model_.init_pytorch(rng);
    return;
  }
  pos_ = read_resume(o_.resume, corpus_, o_, nwin_, model_, optimizer_, hidden_);
  log(fmt::format("resuming {} at epoch {} batch {} (lr {:.4g}, best valid ppl {})", o_.resume, pos_.epoch, pos_.batch,
                  pos_.lr, pos_.saved_val ? fmt::format("{:.2f}", std::exp(*pos_.saved_val)) : std::string("none")));
}

EpochRecord Trainer::epoch_record(const EvalResult& val) const {
  EpochRecord r;
  r.epoch = pos_.epoch;
  r.train_loss = pos_.epoch_tokens ? pos_.epoch_loss_sum / double(pos_.epoch_tokens) : 0;
  r.train_ppl = std::exp(r.train_loss);
  r.valid_loss = val.nll.mean();
  r.valid_ppl = std::exp(r.valid_loss);
  r.valid_ppl_err = val.nll.ppl_err();
  r.lr = pos_.lr;
  r.tokens = pos_.epoch_tokens;
  r.seconds = pos_.epoch_seconds;
  r.tokens_per_sec = pos_.epoch_seconds > 0 ? double(pos_.epoch_tokens) / pos_.epoch_seconds : 0.0;
  return r;
}

void Trainer::add_curve_point(const char* kind, double loss, std::int64_t batches_done) {
  CurvePoint p;
  p.kind = kind;
  p.step = pos_.global_step;
  p.epoch = double(pos_.epoch - 1) + double(batches_done) / double(nwin_);
  p.loss = loss;
  p.ppl = std::exp(loss);
  p.lr = pos_.lr;
  pos_.curve.push_back(std::move(p));
}

void Trainer::save_best(double val_loss) {
  json prov = provenance_base_;
  prov["epochs_completed"] = pos_.history.size();
  if (mid_epoch_) prov["partial_epoch_batches"] = pos_.batch;  // plus this much of the next epoch
  prov["best_valid_loss"] = val_loss;
  prov["best_valid_ppl"] = std::exp(val_loss);
  prov["date"] = utc_timestamp();
  save_checkpoint(o_.save, checkpoint_from_model(model_, corpus_.vocab.words(), prov));
}

// The model evaluation runs: fp32 from the parameters, or with QAT the checkpoint quantized
// exactly as lm-quantize will quantize the saved file (so the number is the deployed model's).
InferenceModel Trainer::eval_model(const Checkpoint* saved) const {
  if (!o_.qat.on) return saved ? InferenceModel::from_checkpoint(*saved) : InferenceModel::from_params(model_);
  const Checkpoint fp = saved ? *saved : checkpoint_from_model(model_, corpus_.vocab.words(), {});
  return InferenceModel::from_checkpoint(quantize_checkpoint(fp, quantize_options(o_.qat)).checkpoint);
}

EvalResult Trainer::validate() {
  InferenceModel im = eval_model(nullptr);
  EvalOptions eo;
  eo.batch = o_.eval_batch;
  eo.bptt = o_.bptt;
  return evaluate(im, corpus_.valid.ids, eo, pool_);
}

bool Trainer::run_batch() {
  Timer batch_timer;
  const Window w = window(train_data_.rows, o_.bptt, pos_.batch);
  const std::uint64_t key =
      mix64(o_.seed * 0x9E3779B97F4A7C15ull ^ mix64(static_cast<std::uint64_t>(pos_.global_step) + 1)) | 1;
  const std::int32_t* in = train_data_.row(w.start);
  const std::int32_t* tgt = train_data_.row(w.start + 1);
  const std::int64_t toks = w.seq_len * o_.batch;
  double loss = model_.forward(in, tgt, w.seq_len, hidden_, key, pool_);
  model_.backward(in, tgt, pool_);
  loss = sync_.synchronize(model_.grads.data(), model_.grads.size(), loss, {pos_.global_step, toks, in}, pool_);
  if (!std::isfinite(loss))
    throw Error(ErrorKind::Diverged,
                fmt::format("training diverged at epoch {} batch {}: loss is {}; {} (try a lower learning rate or clip)",
                            pos_.epoch, pos_.batch, loss, saved_note()));
  if (o_.profile) model_.profile.start();
  const double norm = optimizer_.step(model_.params.data(), model_.grads.data(), static_cast<float>(pos_.lr), o_.clip, pool_);
  model_.profile.mark("clip + optimizer");
  if (!std::isfinite(norm))
    throw Error(ErrorKind::Diverged, fmt::format("training diverged at epoch {} batch {}: gradient norm is {}; {}",
                                                 pos_.epoch, pos_.batch, norm, saved_note()));
  ++pos_.global_step, ++batches_run_;
  train_seconds_ += batch_timer.seconds();
  train_tokens_ += toks;
  interval_loss_ += loss, ++interval_batches_, interval_tokens_ += toks;
  pos_.epoch_loss_sum += loss * double(toks), pos_.epoch_tokens += toks;
  if (pos_.batch % o_.log_interval == 0 && pos_.batch > 0) log_interval();
  if (o_.progress) {
    TrainProgress pr;
    pr.epoch = pos_.epoch, pr.batch = pos_.batch + 1, pr.batches = nwin_, pr.loss = loss;
    pr.elapsed = run_timer_.seconds();
    const double es = epoch_seconds_before_ + epoch_timer_.seconds();
    pr.tokens_per_sec = es > 0 ? double(pos_.epoch_tokens) / es : 0;
    o_.progress(pr);
  }
  const bool interrupted = o_.stop && o_.stop->load();
  const bool out_of_time = o_.max_minutes > 0 && run_timer_.seconds() >= o_.max_minutes * 60.0;
  const bool batch_limit = o_.max_batches > 0 && batches_run_ >= o_.max_batches;
  if (!(interrupted || out_of_time || batch_limit)) return false;
  stop_reason_ = interrupted ? StopReason::Interrupted : out_of_time ? StopReason::TimeBudget : StopReason::BatchLimit;
  return true;
}

// pytorch/examples' progress line, and a train point of the curve
void Trainer::log_interval() {
  const double el = interval_timer_.seconds();
  const double cur = interval_loss_ / double(interval_batches_);
  log(fmt::format("| epoch {:3d} | {:5d}/{:5d} batches | lr {:02.2f} | ms/batch {:5.2f} | loss {:5.2f} | ppl {:8.2f} | tok/s {:6.0f}",
                  pos_.epoch, pos_.batch, shown_batches_, pos_.lr, el * 1000 / double(interval_batches_), cur,
                  std::exp(cur), double(interval_tokens_) / el));
  add_curve_point("train", cur, pos_.batch + 1);
  interval_loss_ = 0, interval_batches_ = 0, interval_tokens_ = 0;
  interval_timer_.reset();
}

// validate, keep the best, anneal, write the resume checkpoint of the next epoch's start
void Trainer::end_epoch() {
  const EvalResult val = validate();
  const double val_loss = val.nll.mean();
  const double elapsed = epoch_seconds_before_ + epoch_timer_.seconds();  // training + validation, as PyTorch's line
  const std::string sep(89, '-');
  log(sep);
  log(fmt::format("| end of epoch {:3d} | time: {:5.2f}s | valid loss {:5.2f} | valid ppl {:8.2f}", pos_.epoch, elapsed,
                  val_loss, std::exp(val_loss)));
  log(sep);
  pos_.history.push_back(epoch_record(val));
  add_curve_point("valid", val_loss, nwin_);
  if (!pos_.saved_val || val_loss < *pos_.saved_val) {
    pos_.saved_val = val_loss;
    save_best(val_loss);
  }
  if (!pos_.best_val || val_loss < *pos_.best_val) pos_.best_val = val_loss;
  else pos_.lr /= 4.0;
  pos_.batch = 0, pos_.epoch_loss_sum = 0, pos_.epoch_tokens = 0, pos_.epoch_seconds = 0;
  Position next = pos_;
  next.epoch = pos_.epoch + 1;
  next.total_seconds = pos_.total_seconds + run_timer_.seconds();
  LstmLM<float>::Hidden fresh;
  fresh.reset(o_.model, o_.batch);
  write_resume(o_.save_resume, model_, optimizer_, fresh, next, o_, corpus_);
}

void Trainer::stop() {
  log(std::string(89, '-'));
  log(stop_reason_ == StopReason::Interrupted
          ? "Exiting from training early"
          : std::string("Exiting from training early: ") + stop_reason_name(stop_reason_) + " reached");
  if (mid_epoch_ && stop_reason_ != StopReason::Interrupted) {
    // A budget ran out mid-epoch: validate what the partial epoch trained and keep it when it
    // beats the saved model, so a time-bounded run does not throw that work away. (Ctrl-C keeps
    // pytorch/examples' behaviour: the best end-of-epoch model, no extra validation.) Neither the
    // lr nor the end-of-epoch best change, so --resume still continues bit-exactly.
    const EvalResult val = validate();
    const double vl = val.nll.mean();
    const bool better = !pos_.saved_val || vl < *pos_.saved_val;
    log(fmt::format("| partial epoch {:3d} | {:5d}/{:5d} batches | valid loss {:5.2f} | valid ppl {:8.2f} | {}", pos_.epoch,
                    pos_.batch, shown_batches_, vl, std::exp(vl),
                    better ? "saved (better than the saved model)" : "not saved (the saved model is better)"));
    PartialEpoch pe;
    static_cast<EpochRecord&>(pe) = epoch_record(val);
    pe.batches = pos_.batch, pe.epoch_batches = nwin_;
    pe.fraction = double(pos_.batch) / double(nwin_);
    pe.saved = better;
    partial_ = pe;
    add_curve_point("valid", vl, pos_.batch);
    if (better) {
      pos_.saved_val = vl;
      save_best(vl);
    }
  } else if (!pos_.saved_val) {
    const EvalResult val = validate();
    log(fmt::format("| no epoch finished: saving the current model | valid loss {:5.2f} | valid ppl {:8.2f}",
                    val.nll.mean(), val.nll.ppl()));
    pos_.saved_val = val.nll.mean();
    save_best(*pos_.saved_val);
  }
  // written after any save above, so that a resumed run knows which model --save holds
  Position here = pos_;
  here.total_seconds = pos_.total_seconds + run_timer_.seconds();
  if (pos_.batch >= nwin_) here.epoch = pos_.epoch + 1, here.batch = 0;  // stopped exactly at an epoch end
  write_resume(o_.save_resume, model_, optimizer_, hidden_, here, o_, corpus_);
  log("resume checkpoint: " + o_.save_resume + " (continue with --resume)");
}

// the best model, as loaded back from disk, on test; the result of the run
TrainResult Trainer::finish() {
  TrainResult r;
  if (o_.profile && batches_run_ > 0) {
    r.profile = model_.profile.phases();
    r.profile_batches = batches_run_;
    double total = 0;
    for (const auto& [_, sec] : r.profile) total += sec;
    log(fmt::format("profile over {} batches ({:.1f} ms/batch):", batches_run_, 1e3 * total / double(batches_run_)));
    for (const auto& [name, sec] : r.profile)
      log(fmt::format("  {:<44} {:8.2f} ms/batch {:5.1f}%", name, 1e3 * sec / double(batches_run_), 100 * sec / total));
  }
  const Checkpoint saved = load_checkpoint(o_.save);
  InferenceModel im = eval_model(&saved);
  EvalOptions eo;
  eo.batch = o_.eval_batch;
  eo.bptt = o_.bptt;
  const EvalResult test = evaluate(im, corpus_.test.ids, eo, pool_);
  const std::string eq(89, '=');
  log(eq);
  log(fmt::format("| End of training | test loss {:5.2f} | test ppl {:8.2f}", test.nll.mean(), test.nll.ppl()));
  log(eq);
  r.options = o_;
  r.corpus = corpus_identity(corpus_);
  r.epochs = pos_.history;
  r.partial_epoch = partial_;
  r.curve = pos_.curve;
  r.best_valid_loss = pos_.saved_val.value_or(0.0);
  r.best_valid_ppl = std::exp(r.best_valid_loss);
  r.test_loss = test.nll.mean(), r.test_ppl = test.nll.ppl(), r.test_ppl_err = test.nll.ppl_err();
  r.test_tokens = test.tokens;
  r.total_seconds = pos_.total_seconds + run_timer_.seconds();
  r.train_tokens = train_tokens_, r.train_seconds = train_seconds_;
  r.train_tokens_per_sec = train_seconds_ > 0 ? double(train_tokens_) / train_seconds_ : 0.0;
  r.stop_reason = stop_reason_;
  return r;
}

TrainResult Trainer::run() {
  restore_or_init();
  run_timer_.reset();
  bool stopped = false;
  for (; pos_.epoch <= o_.epochs && !stopped; ++pos_.epoch) {
    epoch_timer_.reset(), interval_timer_.reset();
    epoch_seconds_before_ = pos_.epoch_seconds;
    interval_loss_ = 0, interval_batches_ = 0, interval_tokens_ = 0;
    if (pos_.batch == 0) hidden_.reset(o_.model, o_.batch);
    for (; pos_.batch < nwin_ && !stopped; ++pos_.batch) stopped = run_batch();
    pos_.epoch_seconds = epoch_seconds_before_ + epoch_timer_.seconds();
    if (stopped && pos_.batch < nwin_) {  // mid-epoch stop: handled below
      mid_epoch_ = true;
      break;
    }
    end_epoch();
  }
  if (stopped) stop();
  return finish();
}

}  // namespace

json to_json(const TrainResult& r) {
  json report = {{"tool", "lm-train"},
                 {"run", run_info(r.options.threads)},
                 {"config", r.options.model.to_json()},
                 {"parameters", param_count(r.options.model)},
                 {"hyperparameters", fields::write_fields(r.options)},
                 {"corpus", r.corpus},
                 {"corpus_options", fields::write_fields(r.options.corpus)},
                 {"threads", r.options.threads},
                 {"epochs", fields::to_value(r.epochs)},
                 {"partial_epoch", fields::to_value(r.partial_epoch)},
                 {"curve", fields::to_value(r.curve)},
                 {"best_valid_loss", r.best_valid_loss},
                 {"best_valid_ppl", r.best_valid_ppl},
                 {"test_loss", r.test_loss},
                 {"test_ppl", r.test_ppl},
                 {"test_ppl_err", r.test_ppl_err},
                 {"test_tokens", r.test_tokens},
                 {"total_seconds", r.total_seconds},
                 {"train_tokens", r.train_tokens},
                 {"train_seconds", r.train_seconds},
                 {"train_tokens_per_sec", r.train_tokens_per_sec},
                 {"stop_reason", stop_reason_name(r.stop_reason)},
                 {"save", r.options.save},
                 {"save_resume", r.options.save_resume}};
  if (!r.profile.empty()) {
    json p = json::array();
    for (const auto& [name, sec] : r.profile)
      p.push_back({{"phase", name}, {"ms_per_batch", 1e3 * sec / double(r.profile_batches)}});
    report["profile"] = p;
  }
  return report;
}

TrainResult train(const Corpus& corpus, TrainOptions opts, const TrainSeams& seams) {
  Trainer t(corpus, std::move(opts), seams);
  return t.run();
}

}  // namespace wordlm
