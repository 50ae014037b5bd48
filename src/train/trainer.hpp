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
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "data/corpus.hpp"
#include "model/config.hpp"
#include "nlohmann/json.hpp"
#include "train/optim.hpp"

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
  int threads = 1;
  OptimizerConfig optim;
  double max_minutes = 0;   // 0: no time budget
  std::int64_t max_batches = 0;  // 0: no limit; else stop after this many batches (benchmarking)
  bool profile = false;          // log where a training step spends its time, at the end
  CorpusOptions corpus;     // recorded so a resume can reload the corpus the same way
  const std::atomic<bool>* stop = nullptr;
  std::function<void(const std::string&)> log;             // one human line (stderr)
  std::function<void(const TrainProgress&)> progress;      // live progress (may be empty)
};

std::string default_resume_path(const std::string& save);

// Reads a resume checkpoint's recorded corpus options and hyperparameters into opts (the values
// a resumed run must keep); fields the user may change on resume (epochs, threads, time budget,
// paths, log interval) are left alone.
void apply_resume_settings(const std::string& resume_path, TrainOptions& opts);

// Trains on the corpus; returns the JSON report (config, corpus identity, per-epoch history,
// best valid ppl, test ppl, timing). Throws Error(Diverged) on NaN/Inf loss.
nlohmann::json train(const Corpus& corpus, TrainOptions opts);

}  // namespace wordlm
