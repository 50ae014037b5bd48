// The training loop of pytorch/examples word_language_model, with what long runs need:
//  - plain SGD after gradient-norm clipping (or Adam/AdamW), lr /= 4 whenever validation loss
//    does not improve, only the best-on-valid model saved, a final test evaluation of it;
//  - PyTorch's log lines; a resume checkpoint (model + optimizer + counters + hidden state)
//    written atomically at every epoch end and when stopped early;
//  - a stop request (SIGINT) or the time budget ends training after the current batch; the
//    best model is kept (or, if no epoch finished yet, the current one is validated and saved)
//    and still evaluated on test;
//  - NaN/Inf loss stops with Error(Diverged); the best checkpoint is never overwritten by it.
// Determinism: dropout masks come from (seed, global step, position) and every reduction has a
// fixed order, so the same seed, corpus and thread count give bit-identical weights, including
// across a kill and --resume.
//
// Two seams (TrainSeams) let other training schemes plug in without touching the loop:
// a GradientSync between backward and the optimizer step (data-parallel training), and a
// WeightTransform in the model's forward/backward (quantization-aware training). Both default
// to doing nothing. With a GradientSync over several processes (train/data_parallel.hpp), each
// runs its share of the batch's columns, validation and test are split by columns and summed,
// the processes agree on when to stop, and rank 0 alone writes checkpoints; the options (batch
// size included) describe the whole run, so the trajectory does not depend on the process count.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus.hpp"
#include "model/weight_transform.hpp"
#include "nlohmann/json.hpp"
#include "spec/config.hpp"
#include "train/gradient_sync.hpp"
#include "train/qat.hpp"
#include "train/optim.hpp"
#include "train/records.hpp"

namespace wordlm {

struct TrainProgress {
  std::int64_t epoch = 0, batch = 0, batches = 0;
  double tokens_per_sec = 0, loss = 0, elapsed = 0;
};

struct TrainOptions {
  ModelConfig model;  // vocab_size is taken from the corpus
  double lr = 20.0;
  double clip = 0.25;
  std::int64_t epochs = 40;
  std::int64_t batch = 20;
  std::int64_t bptt = 35;
  std::int64_t eval_batch = 10;
  std::uint64_t seed = 1111;
  std::int64_t log_interval = 200;
  std::string save = "model.safetensors";
  std::string save_resume;  // default: <save without .safetensors>.resume.safetensors
  std::string resume;       // continue from this resume checkpoint
  std::string init;         // start from this fp32 model checkpoint's weights (fine-tuning, QAT)
  QatOptions qat;           // quantization-aware training (fake-quantized weights, quantized evaluation)
  int threads = 1;
  OptimizerConfig optim;
  LrScaling lr_scaling;     // large-batch rule (linear scaling with warm-up); off by default
  double max_minutes = 0;   // 0: no time budget
  std::int64_t max_batches = 0;  // 0: no limit; else stop after this many batches (benchmarking)
  bool profile = false;          // log where a training step spends its time, at the end
  CorpusOptions corpus;     // recorded so a resume can reload the corpus the same way
  const std::atomic<bool>* stop = nullptr;
  std::function<void(const std::string&)> log;             // one human line (stderr)
  std::function<void(const TrainProgress&)> progress;      // live progress (may be empty)

  // The hyperparameters as one field list (resume checkpoints, reports, provenance). The epoch
  // limit is recorded but not restored: a resumed run may train for longer.
  template <class Self, class F>
  static void fields(Self& o, F&& f) {
    f("lr", o.lr);
    f("clip", o.clip);
    f("epochs", o.epochs, fields::Restore::No);
    f("batch_size", o.batch);
    f("bptt", o.bptt);
    f("eval_batch_size", o.eval_batch);
    f("seed", o.seed);
    f("qat", o.qat, fields::Restore::IfPresent);
    f("optimizer", o.optim.kind);
    f("weight_decay", o.optim.weight_decay);
    f("beta1", o.optim.beta1);
    f("beta2", o.optim.beta2);
    f("eps", o.optim.eps);
    f("lr_scaling", o.lr_scaling, fields::Restore::IfPresent);
  }
};

// Where other training schemes plug in (not owned; nullptr = the default, which does nothing).
struct TrainSeams {
  GradientSync* sync = nullptr;
  const WeightTransform* transform = nullptr;
};

enum class StopReason { Completed, Interrupted, TimeBudget, BatchLimit };
const char* stop_reason_name(StopReason r) noexcept;  // "completed", "interrupted", "time budget", "batch limit"

// What a training run did and reached; to_json() makes lm-train's report of it.
struct TrainResult {
  TrainOptions options;           // as run (resume settings applied, paths resolved)
  nlohmann::json corpus;          // identity of the corpus: files, sizes, sha256
  std::vector<EpochRecord> epochs;
  std::optional<PartialEpoch> partial_epoch;  // a budget stop inside an epoch: what it validated
  std::vector<CurvePoint> curve;  // a point every log interval (train) and every validation
  double best_valid_loss = 0, best_valid_ppl = 0;  // of the model in --save
  std::optional<double> start_valid_ppl;           // --init: of the starting model (saved unless beaten)
  double test_loss = 0, test_ppl = 0, test_ppl_err = 0;
  std::int64_t test_tokens = 0;
  double total_seconds = 0;       // over every invocation of a resumed run
  std::int64_t train_tokens = 0;  // this invocation
  double train_seconds = 0, train_tokens_per_sec = 0;
  StopReason stop_reason = StopReason::Completed;
  int ranks = 1;                  // processes of a data-parallel run
  nlohmann::json data_parallel;   // what their gradient exchange cost (GradientSync::report), or null
  std::vector<std::pair<std::string, double>> profile;  // seconds per phase (--profile)
  std::int64_t profile_batches = 0;
};
nlohmann::json to_json(const TrainResult& r);

std::string default_resume_path(const std::string& save);

// Reads a resume checkpoint's recorded corpus options and hyperparameters into opts (the values
// a resumed run must keep); fields the user may change on resume (epochs, threads, time budget,
// paths, log interval) are left alone. Returns where the run keeps its best model: the resumed run
// must keep saving there (its validation history decides what "better" means), and its test
// perplexity is measured on that file.
struct ResumedModel {
  std::string path;        // the recorded save path, or the model beside a default-named resume
                           // file when that one exists ("" when neither is known)
  bool has_saved = false;  // the run has saved a model (so that file must exist)
};
ResumedModel apply_resume_settings(const std::string& resume_path, TrainOptions& opts);

// Trains on the corpus. Throws Error(Diverged) on NaN/Inf loss, Usage on bad options, Data on a
// corpus too small for one batch.
TrainResult train(const Corpus& corpus, TrainOptions opts, const TrainSeams& seams = {});

}  // namespace wordlm
