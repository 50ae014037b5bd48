// The training loop in named steps: setup (options, corpus checks, model, resume), a batch, an
// epoch end, a stop, the final test. State that outlives a step lives in the Trainer's members;
// what a resumed run needs is the Position (train/records.hpp).
#include "train/trainer.hpp"

#include <cmath>
#include <memory>
#include <span>
#include <tuple>

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
#include "train/data_parallel.hpp"
#include "train/resume.hpp"

namespace wordlm {

using json = nlohmann::json;

namespace {

// Option checks; messages name the setting, not a command-line flag (the library knows none).
void check_options(TrainOptions& o, const Corpus& corpus, int ranks) {
  if (o.batch < 1) throw_usage(fmt::format("batch size must be at least 1 (got {})", o.batch));
  if (o.batch % ranks != 0)
    throw_usage(fmt::format("batch size {} does not split over {} processes: each process trains batch size / "
                            "processes columns, so the batch size must be a multiple of the process count",
                            o.batch, ranks));
  if (o.lr_scaling.base_batch < 1 || o.lr_scaling.warmup_steps < 0)
    throw_usage("learning-rate scaling: the base batch size must be at least 1 and the warm-up steps >= 0");
  if (o.bptt < 1) throw_usage(fmt::format("bptt must be at least 1 (got {})", o.bptt));
  if (o.eval_batch < 1) throw_usage(fmt::format("eval batch size must be at least 1 (got {})", o.eval_batch));
  if (o.epochs < 1) throw_usage(fmt::format("epochs must be at least 1 (got {})", o.epochs));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw_usage(fmt::format("learning rate must be a positive number (got {})", o.lr));
  if (!(o.clip >= 0) || !std::isfinite(o.clip)) throw_usage(fmt::format("gradient clip must be >= 0 (got {})", o.clip));
  o.optim.validate();
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
  void start_together();
  void validate_start();
  void check_together();
  bool distributed() const { return coll_.size() > 1; }
  bool writer() const { return coll_.rank() == 0; }
  double lr_now() const { return pos_.lr * o_.lr_scaling.factor(pos_.global_step, o_.batch); }
  bool run_batch();  // one window; true when the run must stop after it
  void log_interval();
  void end_epoch();
  void stop();
  TrainResult finish();
  EvalResult validate();
  EvalResult evaluate_share(const InferenceModel& im, std::span<const std::int32_t> ids);
  InferenceModel eval_model(const Checkpoint* saved) const;
  void save_best(double val_loss);
  EpochRecord epoch_record(const EvalResult& val) const;
  void add_curve_point(const char* kind, double loss, std::int64_t batches_done);
  std::string saved_note() const { return pos_.saved_val ? o_.save + " is intact" : "no model was saved"; }
  void log(const std::string& s) const { if (o_.log && !s.empty()) o_.log(s); }

  const Corpus& corpus_;
  TrainOptions o_;
  GradientSync default_sync_;
  GradientSync& sync_;
  Collective& coll_;           // the processes of the run (one, unless data-parallel)
  std::int64_t col0_, cols_;   // this process's columns [col0_, col0_ + cols_) of the batch
  Batched train_data_;         // those columns
  EmbeddingRows embedding_;
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
  std::optional<double> start_val_;  // --init: the starting model's validation loss
  std::unique_ptr<FakeQuantTransform> qat_transform_;
  bool shared_ = false;  // the processes share one copy of the parameters (GradientSync::attach)
};

Trainer::Trainer(const Corpus& corpus, TrainOptions o, const TrainSeams& seams)
    : corpus_(corpus),
      o_((check_options(o, corpus, seams.sync ? seams.sync->collective().size() : 1), std::move(o))),
      sync_(seams.sync ? *seams.sync : default_sync_),
      coll_(sync_.collective()),
      col0_(column_share(o_.batch, coll_).first),
      cols_(o_.batch / coll_.size()),
      train_data_(distributed() ? select_columns(batchify(corpus.train.ids, o_.batch), col0_, col0_ + cols_)
                                : batchify(corpus.train.ids, o_.batch)),
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
  const WeightTransform* transform = seams.transform ? seams.transform : qat_transform_.get();
  model_.set_weight_transform(transform);
  if (distributed()) model_.set_column_slice(col0_, o_.batch);
  hidden_.reset(o_.model, cols_);
  const ParamSpec& emb = model_.spec(ParamRole::Embedding);
  embedding_ = {emb.offset, emb.shape[0], emb.shape[1], !o_.model.tied && !(transform && transform->applies(emb))};
  pos_.lr = o_.lr;
  provenance_base_ = {{"corpus", corpus_identity(corpus)},
                      {"corpus_options", fields::write_fields(o_.corpus)},
                      {"hyperparameters", fields::write_fields(o_)},
                      {"tool", "lm-train"},
                      {"tool_version", build::kVersion},
                      {"git_revision", build::kGitRevision}};
  if (distributed()) provenance_base_["ranks"] = coll_.size();
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
  LstmLM<float>::Hidden whole;  // the resume file holds every column's state; this process takes its own
  whole.reset(o_.model, o_.batch);
  pos_ = read_resume(o_.resume, corpus_, o_, nwin_, model_, optimizer_, distributed() ? whole : hidden_);
  if (distributed()) take_columns(o_.model, whole, col0_, hidden_);
  log(fmt::format("resuming {} at epoch {} batch {} (lr {:.4g}, best valid ppl {})", o_.resume, pos_.epoch, pos_.batch,
                  pos_.lr, pos_.saved_val ? fmt::format("{:.2f}", std::exp(*pos_.saved_val)) : std::string("none")));
}

// Data-parallel start (Horovod's broadcast): every process takes rank 0's parameters and optimizer
// state, and all check that they read the same corpus and are at the same position.
void Trainer::start_together() {
  std::string corpus_id;  // first: a different vocabulary would mean differently sized models
  for (const Split* sp : {&corpus_.train, &corpus_.valid, &corpus_.test}) corpus_id += sp->stats.sha256 + " ";
  corpus_id += std::to_string(corpus_.vocab.size());
  check_same(coll_, digest(corpus_id.data(), corpus_id.size()), ErrorKind::Data,
             "the processes read different corpora: every process must read the same files (sha256 " + corpus_id + ")");
  const std::string at = fields::write_fields(pos_).dump();
  check_same(coll_, digest(at.data(), at.size()), ErrorKind::Usage,
             "the processes start from different positions: every process must read the same resume checkpoint");
  coll_.broadcast(model_.params.data(), sizeof(float) * model_.params.size(), 0);
  for (AlignedBuffer<float>* b : {&optimizer_.exp_avg(), &optimizer_.exp_avg_sq()})
    if (!b->empty()) coll_.broadcast(b->data(), sizeof(float) * b->size(), 0);
  shared_ = sync_.attach(model_, optimizer_);  // one machine: one copy of the parameters from now on
  log(sync_.describe());
}

// Fine-tuning (--init, e.g. --qat) starts from a trained model, so the start is the first
// candidate for --save: it is validated (with --qat: quantized as lm-quantize will quantize it)
// and saved, and an epoch replaces it only by validating better; it also counts as the best so
// far for the schedule (an epoch that does not beat it anneals the rate). Measured on the
// converged small model (docs/quantization.md): one epoch of plain or 8-bit fine-tuning at the
// model's final rate left validation 0.03-0.06% worse than the start, and without this the
// fine-tuned file would have been the worse one.
void Trainer::validate_start() {
  const EvalResult val = validate();
  const double vl = val.nll.mean();
  log(fmt::format("| start           | valid loss {:5.2f} | valid ppl {:8.2f} | the model of --init{}", vl,
                  std::exp(vl), o_.qat.on ? ", quantized" : ""));
  add_curve_point("valid", vl, 0);
  start_val_ = vl;
  pos_.saved_val = vl;
  pos_.best_val = vl;
  save_best(vl);
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
  p.lr = lr_now();
  pos_.curve.push_back(std::move(p));
}

void Trainer::save_best(double val_loss) {
  if (!writer()) return;
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

EvalResult Trainer::validate() { return evaluate_share(eval_model(nullptr), corpus_.valid.ids); }

// pytorch/examples' evaluate() over a split; data-parallel: this process's columns, summed over all
EvalResult Trainer::evaluate_share(const InferenceModel& im, std::span<const std::int32_t> ids) {
  EvalOptions eo;
  eo.batch = o_.eval_batch;
  eo.bptt = o_.bptt;
  if (!distributed()) return evaluate(im, ids, eo, pool_);
  std::tie(eo.col_begin, eo.col_end) = column_share(o_.eval_batch, coll_);
  EvalResult r = evaluate(im, ids, eo, pool_);
  double v[3] = {r.nll.sum, r.nll.sum2, double(r.nll.n)};
  coll_.sum(v, 3);
  r.nll.sum = v[0], r.nll.sum2 = v[1], r.nll.n = static_cast<std::int64_t>(v[2]);
  r.tokens = r.nll.n;
  return r;
}

bool Trainer::run_batch() {
  Timer batch_timer;
  const Window w = window(train_data_.rows, o_.bptt, pos_.batch);
  const std::uint64_t key =
      mix64(o_.seed * 0x9E3779B97F4A7C15ull ^ mix64(static_cast<std::uint64_t>(pos_.global_step) + 1)) | 1;
  const std::int32_t* in = train_data_.row(w.start);
  const std::int32_t* tgt = train_data_.row(w.start + 1);
  const std::int64_t toks = w.seq_len * o_.batch;  // the whole batch's (every process's share)
  double loss = model_.forward(in, tgt, w.seq_len, hidden_, key, pool_);
  model_.backward(in, tgt, pool_);
  if (o_.profile && distributed()) model_.profile.start();
  loss = sync_.synchronize(model_.grads.data(), model_.grads.size(), loss,
                           {pos_.global_step, w.seq_len * cols_, toks, in, embedding_}, pool_);
  if (distributed()) model_.profile.mark("gradient exchange");
  if (!std::isfinite(loss))
    throw Error(ErrorKind::Diverged,
                fmt::format("training diverged at epoch {} batch {}: loss is {}; {} (try a lower learning rate or clip)",
                            pos_.epoch, pos_.batch, loss, saved_note()));
  if (o_.profile) model_.profile.start();
  const float lr = static_cast<float>(lr_now());
  const double norm = shared_ ? sync_.update(lr, o_.clip, pool_)
                              : optimizer_.step(model_.params.data(), model_.grads.data(), lr, o_.clip, pool_);
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
  std::uint64_t why = (interrupted ? 1u : 0u) | (out_of_time ? 2u : 0u) | (batch_limit ? 4u : 0u);
  if (distributed()) why = coll_.bit_or(why);  // every process stops after the same batch
  if (!why) return false;
  stop_reason_ = why & 1u ? StopReason::Interrupted : why & 2u ? StopReason::TimeBudget : StopReason::BatchLimit;
  return true;
}

// pytorch/examples' progress line, and a train point of the curve
void Trainer::log_interval() {
  const double el = interval_timer_.seconds();
  const double cur = interval_loss_ / double(interval_batches_);
  log(fmt::format("| epoch {:3d} | {:5d}/{:5d} batches | lr {:02.2f} | ms/batch {:5.2f} | loss {:5.2f} | ppl {:8.2f} | tok/s {:6.0f}",
                  pos_.epoch, pos_.batch, shown_batches_, lr_now(), el * 1000 / double(interval_batches_), cur,
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
  if (distributed()) check_together();
  if (writer()) write_resume(o_.save_resume, model_, optimizer_, fresh, next, o_, corpus_);
}

// Data-parallel: the processes' parameters and learning rate must still be the same bits.
void Trainer::check_together() {
  const double lr = pos_.lr;
  std::uint64_t d = digest(model_.params.data(), sizeof(float) * model_.params.size());
  d ^= digest(&lr, sizeof lr);
  check_same(coll_, d, ErrorKind::Internal,
             fmt::format("the processes' parameters or learning rate differ after epoch {} (a reduction that is "
                         "not the same on every process?)",
                         pos_.epoch));
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
  LstmLM<float>::Hidden whole;  // data-parallel: every process's columns
  if (distributed()) whole.reset(o_.model, o_.batch), gather_columns(coll_, o_.model, hidden_, whole);
  if (writer()) write_resume(o_.save_resume, model_, optimizer_, distributed() ? whole : hidden_, here, o_, corpus_);
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
  EvalResult test;
  if (!distributed()) {
    const Checkpoint saved = load_checkpoint(o_.save);
    test = evaluate_share(eval_model(&saved), corpus_.test.ids);
  } else {  // rank 0 wrote the saved model: it reads it and sends the weights to the others
    if (writer()) load_model_params(model_, load_checkpoint(o_.save));
    if (shared_) coll_.node_memory()->barrier();  // one copy of the parameters: rank 0's load is everyone's
    else coll_.broadcast(model_.params.data(), sizeof(float) * model_.params.size(), 0);
    test = evaluate_share(eval_model(nullptr), corpus_.test.ids);
  }
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
  if (start_val_) r.start_valid_ppl = std::exp(*start_val_);
  r.test_loss = test.nll.mean(), r.test_ppl = test.nll.ppl(), r.test_ppl_err = test.nll.ppl_err();
  r.test_tokens = test.tokens;
  r.total_seconds = pos_.total_seconds + run_timer_.seconds();
  r.train_tokens = train_tokens_, r.train_seconds = train_seconds_;
  r.train_tokens_per_sec = train_seconds_ > 0 ? double(train_tokens_) / train_seconds_ : 0.0;
  r.stop_reason = stop_reason_;
  r.ranks = coll_.size();
  r.data_parallel = sync_.report();
  return r;
}

TrainResult Trainer::run() {
  restore_or_init();
  if (distributed()) start_together();
  if (o_.resume.empty() && !o_.init.empty()) validate_start();
  run_timer_.reset();
  bool stopped = false;
  for (; pos_.epoch <= o_.epochs && !stopped; ++pos_.epoch) {
    epoch_timer_.reset(), interval_timer_.reset();
    epoch_seconds_before_ = pos_.epoch_seconds;
    interval_loss_ = 0, interval_batches_ = 0, interval_tokens_ = 0;
    if (pos_.batch == 0) hidden_.reset(o_.model, cols_);
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

TrainResult train(const Corpus& corpus, TrainOptions opts, const TrainSeams& seams) {
  Trainer t(corpus, std::move(opts), seams);
  return t.run();
}

}  // namespace wordlm
