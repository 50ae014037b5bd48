// Trainer implementation.
#include "train/trainer.hpp"

#include <cmath>
#include <cstring>
#include <span>

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
#include "report/runinfo.hpp"

namespace wordlm {

using json = nlohmann::json;

std::string default_resume_path(const std::string& save) {
  const std::string ext = ".safetensors";
  if (save.size() > ext.size() && save.compare(save.size() - ext.size(), ext.size(), ext) == 0)
    return save.substr(0, save.size() - ext.size()) + ".resume" + ext;
  return save + ".resume";
}

namespace {

json corpus_identity(const Corpus& c) {
  return {{"dir", c.dir},
          {"vocab_size", c.vocab.size()},
          {"train", split_identity(c.train)},
          {"valid", split_identity(c.valid)},
          {"test", split_identity(c.test)}};
}

json corpus_options_json(const CorpusOptions& o) {
  return {{"vocab_from", o.vocab_from == VocabFrom::All ? "all" : "train"},
          {"max_vocab", o.max_vocab},
          {"lowercase", o.lowercase}};
}

json hyper_json(const TrainOptions& o) {
  return {{"lr", o.lr},
          {"clip", o.clip},
          {"epochs", o.epochs},
          {"batch_size", o.batch},
          {"bptt", o.bptt},
          {"eval_batch_size", o.eval_batch},
          {"seed", o.seed},
          {"optimizer", optimizer_name(o.optim.kind)},
          {"weight_decay", o.optim.weight_decay},
          {"beta1", o.optim.beta1},
          {"beta2", o.optim.beta2},
          {"eps", o.optim.eps}};
}

// The resumable position and counters.
struct Position {
  std::int64_t epoch = 1;          // current epoch (1-based)
  std::int64_t batch = 0;          // next window index within the epoch
  std::int64_t global_step = 0;    // windows trained since the start of the run
  double lr = 0;
  bool has_best = false;
  double best_val = 0;             // best end-of-epoch valid loss (decides the lr annealing)
  bool has_saved = false;
  double saved_val = 0;            // valid loss of the model in --save (decides overwriting it; a
                                   // partial epoch at a time budget may have saved a better one)
  double epoch_loss_sum = 0;       // sum over this epoch's windows of loss * tokens
  std::int64_t epoch_tokens = 0;
  double epoch_seconds = 0;        // training time spent in this epoch so far
  double total_seconds = 0;        // over all invocations
  json history = json::array();
};

json position_json(const Position& p) {
  return {{"epoch", p.epoch},
          {"batch", p.batch},
          {"global_step", p.global_step},
          {"lr", p.lr},
          {"best_valid_loss", p.has_best ? json(p.best_val) : json(nullptr)},
          {"saved_valid_loss", p.has_saved ? json(p.saved_val) : json(nullptr)},
          {"epoch_loss_sum", p.epoch_loss_sum},
          {"epoch_tokens", p.epoch_tokens},
          {"epoch_seconds", p.epoch_seconds},
          {"total_seconds", p.total_seconds},
          {"history", p.history}};
}

void write_resume(const std::string& path, const LstmLM<float>& model, const Optimizer& opt,
                  const LstmLM<float>::Hidden& hidden, const Position& pos, const TrainOptions& o, const Corpus& corpus) {
  Checkpoint ck = checkpoint_from_model(model, corpus.vocab.words(), json::object());
  ck.kind = "resume";
  ck.training_state = {{"position", position_json(pos)},
                       {"hyperparameters", hyper_json(o)},
                       {"corpus_options", corpus_options_json(o.corpus)},
                       {"corpus", corpus_identity(corpus)},
                       {"optimizer_steps", opt.steps()},
                       {"batch", hidden.batch}};
  if (!opt.exp_avg().empty()) {
    const Shape s{static_cast<std::int64_t>(opt.exp_avg().size())};
    ck.extra.emplace("optim.exp_avg", Tensor::from<float>(s, std::span<const float>(opt.exp_avg().data(), opt.exp_avg().size())));
    ck.extra.emplace("optim.exp_avg_sq",
                     Tensor::from<float>(s, std::span<const float>(opt.exp_avg_sq().data(), opt.exp_avg_sq().size())));
  }
  const Shape hs{model.config().nlayers, hidden.batch, model.config().nhid};
  ck.extra.emplace("state.h", Tensor::from<float>(hs, std::span<const float>(hidden.h.data(), hidden.h.size())));
  ck.extra.emplace("state.c", Tensor::from<float>(hs, std::span<const float>(hidden.c.data(), hidden.c.size())));
  save_checkpoint(path, ck);
}

}  // namespace

void apply_resume_settings(const std::string& resume_path, TrainOptions& o) {
  const Checkpoint ck = load_checkpoint(resume_path);
  if (ck.kind != "resume")
    throw_usage(resume_path + " is a model checkpoint, not a resume checkpoint (lm-train writes those to --save-resume)");
  const json& ts = ck.training_state;
  try {
    const json& h = ts.at("hyperparameters");
    o.model = ck.config;
    o.lr = h.at("lr").get<double>();
    o.clip = h.at("clip").get<double>();
    o.batch = h.at("batch_size").get<std::int64_t>();
    o.bptt = h.at("bptt").get<std::int64_t>();
    o.eval_batch = h.at("eval_batch_size").get<std::int64_t>();
    o.seed = h.at("seed").get<std::uint64_t>();
    o.optim.kind = parse_optimizer(h.at("optimizer").get<std::string>());
    o.optim.weight_decay = h.at("weight_decay").get<double>();
    o.optim.beta1 = h.at("beta1").get<double>();
    o.optim.beta2 = h.at("beta2").get<double>();
    o.optim.eps = h.at("eps").get<double>();
    const json& c = ts.at("corpus_options");
    o.corpus.vocab_from = c.at("vocab_from").get<std::string>() == "all" ? VocabFrom::All : VocabFrom::Train;
    o.corpus.max_vocab = c.at("max_vocab").get<std::int64_t>();
    o.corpus.lowercase = c.at("lowercase").get<bool>();
  } catch (const json::exception& e) {
    throw CheckpointError(CheckpointErrc::BadMetadata, resume_path + ": training_state is incomplete: " + e.what());
  }
  o.resume = resume_path;
}

json train(const Corpus& corpus, TrainOptions o) {
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  if (o.batch < 1) throw_usage("--batch_size must be at least 1");
  if (o.bptt < 1) throw_usage("--bptt must be at least 1");
  if (o.eval_batch < 1) throw_usage("eval batch size must be at least 1");
  if (o.epochs < 1) throw_usage("--epochs must be at least 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw_usage("--lr must be a positive number");
  if (!(o.clip >= 0) || !std::isfinite(o.clip)) throw_usage("--clip must be >= 0");
  if (o.log_interval < 1) throw_usage("--log-interval must be at least 1");
  if (o.max_minutes < 0 || !std::isfinite(o.max_minutes)) throw_usage("--max-minutes must be >= 0");
  if (o.max_batches < 0) throw_usage("--max-batches must be >= 0");
  if (o.save_resume.empty()) o.save_resume = default_resume_path(o.save);
  o.model.vocab_size = corpus.vocab.size();
  o.model.validate(ErrorKind::Usage);

  const Batched train_data = batchify(corpus.train.ids, o.batch);
  const std::int64_t nwin = num_windows(train_data.rows, o.bptt);
  if (nwin == 0)
    throw_data(fmt::format("the train split has {} tokens: too few for batch size {} (need at least {})",
                           corpus.train.size(), o.batch, 2 * o.batch));
  for (const Split* s : {&corpus.valid, &corpus.test})
    if (s->size() < 2 * o.eval_batch)
      throw_data(fmt::format("the {} split has {} tokens: too few for eval batch size {} (need at least {})", s->name,
                             s->size(), o.eval_batch, 2 * o.eval_batch));
  if (same_file(o.save, corpus.train.path) || same_file(o.save, corpus.valid.path) || same_file(o.save, corpus.test.path))
    throw_usage("--save " + o.save + " is one of the corpus files");

  ThreadPool pool(o.threads);
  LstmLM<float> model(o.model);
  model.profile.enable(o.profile);
  Optimizer optimizer(o.optim, model.params.size());
  LstmLM<float>::Hidden hidden;
  hidden.reset(o.model, o.batch);
  Position pos;
  pos.lr = o.lr;

  if (!o.resume.empty()) {
    const Checkpoint ck = load_checkpoint(o.resume);
    if (ck.kind != "resume") throw_usage(o.resume + " is not a resume checkpoint");
    if (ck.vocab != corpus.vocab.words())
      throw_usage("cannot resume: the corpus vocabulary differs from the one " + o.resume + " was trained with");
    const json& ts = ck.training_state;
    try {
      const json& c = ts.at("corpus");
      for (const char* sp : {"train", "valid", "test"})
        if (c.at(sp).at("sha256") != split_identity(corpus.split(sp)).at("sha256"))
          throw_usage(fmt::format("cannot resume: the {} split differs from the one {} was trained on", sp, o.resume));
      if (ts.at("batch").get<std::int64_t>() != o.batch) throw_usage("cannot resume with a different batch size");
      const json& p = ts.at("position");
      pos.epoch = p.at("epoch").get<std::int64_t>();
      pos.batch = p.at("batch").get<std::int64_t>();
      pos.global_step = p.at("global_step").get<std::int64_t>();
      pos.lr = p.at("lr").get<double>();
      pos.has_best = !p.at("best_valid_loss").is_null();
      if (pos.has_best) pos.best_val = p.at("best_valid_loss").get<double>();
      pos.has_saved = pos.has_best, pos.saved_val = pos.best_val;
      if (p.contains("saved_valid_loss") && !p.at("saved_valid_loss").is_null())
        pos.has_saved = true, pos.saved_val = p.at("saved_valid_loss").get<double>();
      pos.epoch_loss_sum = p.at("epoch_loss_sum").get<double>();
      pos.epoch_tokens = p.at("epoch_tokens").get<std::int64_t>();
      pos.epoch_seconds = p.at("epoch_seconds").get<double>();
      pos.total_seconds = p.at("total_seconds").get<double>();
      pos.history = p.at("history");
      optimizer.set_steps(ts.at("optimizer_steps").get<std::int64_t>());
      if (pos.epoch < 1 || pos.batch < 0 || pos.batch > nwin || pos.global_step < 0 || !(pos.lr > 0) ||
          !std::isfinite(pos.lr) || pos.epoch_tokens < 0 || !pos.history.is_array() || optimizer.steps() < 0 ||
          (pos.has_best && !std::isfinite(pos.best_val)) || (pos.has_saved && !std::isfinite(pos.saved_val)))
        throw CheckpointError(CheckpointErrc::BadMetadata,
                              o.resume + ": training_state position is out of range (epoch " + std::to_string(pos.epoch) +
                                  ", batch " + std::to_string(pos.batch) + " of " + std::to_string(nwin) + ")");
    } catch (const json::exception& e) {
      throw CheckpointError(CheckpointErrc::BadMetadata, o.resume + ": training_state is incomplete: " + e.what());
    }
    load_model_params(model, ck);
    auto copy_extra = [&](const std::string& name, AlignedBuffer<float>& dst) {
      auto it = ck.extra.find(name);
      if (it == ck.extra.end() || static_cast<std::size_t>(it->second.numel()) != dst.size())
        throw CheckpointError(CheckpointErrc::MissingTensor, o.resume + ": resume state '" + name + "' is missing or has the wrong size");
      std::memcpy(dst.data(), it->second.data<float>(), sizeof(float) * dst.size());
    };
    if (!optimizer.exp_avg().empty()) copy_extra("optim.exp_avg", optimizer.exp_avg()), copy_extra("optim.exp_avg_sq", optimizer.exp_avg_sq());
    copy_extra("state.h", hidden.h);
    copy_extra("state.c", hidden.c);
    log(fmt::format("resuming {} at epoch {} batch {} (lr {:.4g}, best valid ppl {})", o.resume, pos.epoch, pos.batch,
                    pos.lr, pos.has_saved ? fmt::format("{:.2f}", std::exp(pos.saved_val)) : std::string("none")));
  } else {
    Rng rng(o.seed);
    model.init_pytorch(rng);
  }

  json provenance_base = {{"corpus", corpus_identity(corpus)},
                          {"corpus_options", corpus_options_json(o.corpus)},
                          {"hyperparameters", hyper_json(o)},
                          {"tool", "lm-train"},
                          {"tool_version", build::kVersion},
                          {"git_revision", build::kGitRevision}};
  // the report's (and resume history's) record of an epoch, or of the partial epoch so far
  auto epoch_record = [&](const EvalResult& val) {
    const double train_loss = pos.epoch_tokens ? pos.epoch_loss_sum / double(pos.epoch_tokens) : 0;
    const double vl = val.nll.mean();
    return json{{"epoch", pos.epoch},
                {"train_loss", train_loss},
                {"train_ppl", std::exp(train_loss)},
                {"valid_loss", vl},
                {"valid_ppl", std::exp(vl)},
                {"valid_ppl_err", val.nll.ppl_err()},
                {"lr", pos.lr},
                {"tokens", pos.epoch_tokens},
                {"seconds", pos.epoch_seconds},
                {"tokens_per_sec", pos.epoch_seconds > 0 ? double(pos.epoch_tokens) / pos.epoch_seconds : 0.0}};
  };
  bool mid_epoch = false;  // the run stopped inside an epoch
  auto save_best = [&](double val_loss) {
    json prov = provenance_base;
    prov["epochs_completed"] = pos.history.size();
    if (mid_epoch) prov["partial_epoch_batches"] = pos.batch;  // plus this much of the next epoch
    prov["best_valid_loss"] = val_loss;
    prov["best_valid_ppl"] = std::exp(val_loss);
    prov["date"] = utc_timestamp();
    save_checkpoint(o.save, checkpoint_from_model(model, corpus.vocab.words(), prov));
  };
  auto validate = [&]() {
    InferenceModel im = InferenceModel::from_params(model);
    EvalOptions eo;
    eo.batch = o.eval_batch;
    eo.bptt = o.bptt;
    return evaluate(im, corpus.valid.ids, eo, pool);
  };

  const std::int64_t shown_batches = train_data.rows / o.bptt;  // pytorch's len(train_data) // bptt
  const double budget = o.max_minutes * 60.0;
  Timer run_timer;
  double train_seconds = 0;      // this invocation, training batches only (no validation)
  std::int64_t train_tokens = 0;
  std::int64_t batches_run = 0;
  std::string stop_reason = "completed";
  bool stopped = false;
  json partial = nullptr;         // the validated partial epoch when a budget stopped the run mid-epoch
  const std::string sep89(89, '-'), eq89(89, '=');

  for (; pos.epoch <= o.epochs && !stopped; ++pos.epoch) {
    Timer epoch_timer;
    const double epoch_seconds_before = pos.epoch_seconds;
    double interval_loss = 0;
    std::int64_t interval_batches = 0, interval_tokens = 0;
    Timer interval_timer;
    if (pos.batch == 0) hidden.reset(o.model, o.batch);
    for (; pos.batch < nwin; ++pos.batch) {
      Timer batch_timer;
      const Window w = window(train_data.rows, o.bptt, pos.batch);
      const std::uint64_t key = mix64(o.seed * 0x9E3779B97F4A7C15ull ^ mix64(static_cast<std::uint64_t>(pos.global_step) + 1)) | 1;
      const double loss = model.step(train_data.row(w.start), train_data.row(w.start + 1), w.seq_len, hidden, key, true, pool);
      if (!std::isfinite(loss))
        throw Error(ErrorKind::Diverged,
                    fmt::format("training diverged at epoch {} batch {}: loss is {}; {} is intact (try a lower --lr or --clip)",
                                pos.epoch, pos.batch, loss, pos.has_saved ? o.save : std::string("no model was saved")));
      if (o.profile) model.profile.start();
      const double norm = optimizer.step(model.params.data(), model.grads.data(), static_cast<float>(pos.lr), o.clip, pool);
      model.profile.mark("clip + optimizer");
      if (!std::isfinite(norm))
        throw Error(ErrorKind::Diverged,
                    fmt::format("training diverged at epoch {} batch {}: gradient norm is {}; {} is intact", pos.epoch,
                                pos.batch, norm, pos.has_saved ? o.save : std::string("no model was saved")));
      ++pos.global_step;
      ++batches_run;
      train_seconds += batch_timer.seconds();
      const std::int64_t toks = w.seq_len * o.batch;
      train_tokens += toks;
      interval_loss += loss, ++interval_batches, interval_tokens += toks;
      pos.epoch_loss_sum += loss * double(toks), pos.epoch_tokens += toks;
      if (pos.batch % o.log_interval == 0 && pos.batch > 0) {
        const double el = interval_timer.seconds();
        const double cur = interval_loss / double(interval_batches);
        log(fmt::format("| epoch {:3d} | {:5d}/{:5d} batches | lr {:02.2f} | ms/batch {:5.2f} | loss {:5.2f} | ppl {:8.2f} | tok/s {:6.0f}",
                        pos.epoch, pos.batch, shown_batches, pos.lr, el * 1000 / double(interval_batches), cur,
                        std::exp(cur), double(interval_tokens) / el));
        interval_loss = 0, interval_batches = 0, interval_tokens = 0;
        interval_timer.reset();
      }
      if (o.progress) {
        TrainProgress pr;
        pr.epoch = pos.epoch, pr.batch = pos.batch + 1, pr.batches = nwin, pr.loss = loss;
        pr.elapsed = run_timer.seconds();
        const double es = epoch_seconds_before + epoch_timer.seconds();
        pr.tokens_per_sec = es > 0 ? double(pos.epoch_tokens) / es : 0;
        o.progress(pr);
      }
      const bool interrupted = o.stop && o.stop->load();
      const bool out_of_time = budget > 0 && run_timer.seconds() >= budget;
      const bool batch_limit = o.max_batches > 0 && batches_run >= o.max_batches;
      if (interrupted || out_of_time || batch_limit) {
        stop_reason = interrupted ? "interrupted" : out_of_time ? "time budget" : "batch limit";
        stopped = true;
        ++pos.batch;
        break;
      }
    }
    pos.epoch_seconds = epoch_seconds_before + epoch_timer.seconds();
    if (stopped && pos.batch < nwin) {  // mid-epoch stop: handled below
      mid_epoch = true;
      break;
    }
    // ---- end of epoch: validate, keep the best, anneal
    const EvalResult val = validate();
    const double val_loss = val.nll.mean();
    const double elapsed = epoch_timer.seconds() + epoch_seconds_before;
    log(sep89);
    log(fmt::format("| end of epoch {:3d} | time: {:5.2f}s | valid loss {:5.2f} | valid ppl {:8.2f}", pos.epoch, elapsed,
                    val_loss, std::exp(val_loss)));
    log(sep89);
    pos.history.push_back(epoch_record(val));
    if (!pos.has_saved || val_loss < pos.saved_val) {
      pos.saved_val = val_loss;
      pos.has_saved = true;
      save_best(val_loss);
    }
    if (!pos.has_best || val_loss < pos.best_val) {
      pos.best_val = val_loss;
      pos.has_best = true;
    } else {
      pos.lr /= 4.0;
    }
    pos.batch = 0, pos.epoch_loss_sum = 0, pos.epoch_tokens = 0, pos.epoch_seconds = 0;
    Position next = pos;
    next.epoch = pos.epoch + 1;
    next.total_seconds = pos.total_seconds + run_timer.seconds();
    LstmLM<float>::Hidden fresh;
    fresh.reset(o.model, o.batch);
    write_resume(o.save_resume, model, optimizer, fresh, next, o, corpus);
  }

  if (stopped) {
    log(sep89);
    log(stop_reason == "interrupted" ? "Exiting from training early"
                                     : "Exiting from training early: " + stop_reason + " reached");
    if (mid_epoch && stop_reason != "interrupted") {
      // A budget ran out mid-epoch: validate what the partial epoch trained and keep it when it
      // beats the saved model, so a time-bounded run does not throw that work away. (Ctrl-C keeps
      // pytorch/examples' behaviour: the best end-of-epoch model, no extra validation.) Neither the
      // lr nor the end-of-epoch best change, so --resume still continues bit-exactly.
      const EvalResult val = validate();
      const double vl = val.nll.mean();
      const bool better = !pos.has_saved || vl < pos.saved_val;
      log(fmt::format("| partial epoch {:3d} | {:5d}/{:5d} batches | valid loss {:5.2f} | valid ppl {:8.2f} | {}", pos.epoch,
                      pos.batch, shown_batches, vl, std::exp(vl),
                      better ? "saved (better than the saved model)" : "not saved (the saved model is better)"));
      partial = epoch_record(val);
      partial["batches"] = pos.batch, partial["epoch_batches"] = nwin;
      partial["fraction"] = double(pos.batch) / double(nwin);
      partial["saved"] = better;
      if (better) {
        pos.saved_val = vl, pos.has_saved = true;
        save_best(vl);
      }
    } else if (!pos.has_saved) {
      const EvalResult val = validate();
      log(fmt::format("| no epoch finished: saving the current model | valid loss {:5.2f} | valid ppl {:8.2f}",
                      val.nll.mean(), val.nll.ppl()));
      pos.saved_val = val.nll.mean();
      pos.has_saved = true;
      save_best(pos.saved_val);
    }
    // written after any save above, so that a resumed run knows which model --save holds
    Position here = pos;
    here.total_seconds = pos.total_seconds + run_timer.seconds();
    if (pos.batch >= nwin) here.epoch = pos.epoch + 1, here.batch = 0;  // stopped exactly at an epoch end
    write_resume(o.save_resume, model, optimizer, hidden, here, o, corpus);
    log("resume checkpoint: " + o.save_resume + " (continue with --resume)");
  }

  if (o.profile && batches_run > 0) {
    double total = 0;
    for (const auto& [_, sec] : model.profile.phases()) total += sec;
    log(fmt::format("profile over {} batches ({:.1f} ms/batch):", batches_run, 1e3 * total / double(batches_run)));
    for (const auto& [name, sec] : model.profile.phases())
      log(fmt::format("  {:<44} {:8.2f} ms/batch {:5.1f}%", name, 1e3 * sec / double(batches_run), 100 * sec / total));
  }
  // ---- test the best model, as loaded back from disk
  const Checkpoint best = load_checkpoint(o.save);
  InferenceModel im = InferenceModel::from_checkpoint(best);
  EvalOptions eo;
  eo.batch = o.eval_batch;
  eo.bptt = o.bptt;
  const EvalResult test = evaluate(im, corpus.test.ids, eo, pool);
  log(eq89);
  log(fmt::format("| End of training | test loss {:5.2f} | test ppl {:8.2f}", test.nll.mean(), test.nll.ppl()));
  log(eq89);

  json report = {{"tool", "lm-train"},
                 {"run", run_info(o.threads)},
                 {"config", o.model.to_json()},
                 {"parameters", param_count(o.model)},
                 {"hyperparameters", hyper_json(o)},
                 {"corpus", corpus_identity(corpus)},
                 {"corpus_options", corpus_options_json(o.corpus)},
                 {"threads", o.threads},
                 {"epochs", pos.history},
                 {"partial_epoch", partial},
                 {"best_valid_loss", pos.saved_val},
                 {"best_valid_ppl", std::exp(pos.saved_val)},
                 {"test_loss", test.nll.mean()},
                 {"test_ppl", test.nll.ppl()},
                 {"test_ppl_err", test.nll.ppl_err()},
                 {"test_tokens", test.tokens},
                 {"total_seconds", pos.total_seconds + run_timer.seconds()},
                 {"train_tokens", train_tokens},
                 {"train_seconds", train_seconds},
                 {"train_tokens_per_sec", train_seconds > 0 ? double(train_tokens) / train_seconds : 0.0},
                 {"stop_reason", stop_reason},
                 {"save", o.save},
                 {"save_resume", o.save_resume}};
  return report;
}

}  // namespace wordlm
