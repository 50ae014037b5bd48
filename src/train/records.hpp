// The records a training run keeps and reports: per-epoch results, the validated partial epoch
// of a budget stop, the training curve, and the resumable position. Each lists its fields once
// (train/fields.hpp); the resume checkpoint, the report and the plot all use those lists.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus.hpp"
#include "nlohmann/json.hpp"
#include "train/fields.hpp"
#include "train/optim.hpp"

namespace wordlm {

// JSON names of the enums the records hold (unknown names throw a json error).
void to_json(nlohmann::json& j, OptimizerKind k);
void from_json(const nlohmann::json& j, OptimizerKind& k);
void to_json(nlohmann::json& j, VocabFrom v);
void from_json(const nlohmann::json& j, VocabFrom& v);

// One finished epoch (or, inside PartialEpoch, the part of one that ran).
struct EpochRecord {
  std::int64_t epoch = 0;
  double train_loss = 0, train_ppl = 0;
  double valid_loss = 0, valid_ppl = 0, valid_ppl_err = 0;
  double lr = 0;
  std::int64_t tokens = 0;
  double seconds = 0, tokens_per_sec = 0;
  template <class Self, class F>
  static void fields(Self& r, F&& f) {
    f("epoch", r.epoch);
    f("train_loss", r.train_loss);
    f("train_ppl", r.train_ppl);
    f("valid_loss", r.valid_loss);
    f("valid_ppl", r.valid_ppl);
    f("valid_ppl_err", r.valid_ppl_err);
    f("lr", r.lr);
    f("tokens", r.tokens);
    f("seconds", r.seconds);
    f("tokens_per_sec", r.tokens_per_sec);
  }
};

struct PartialEpoch : EpochRecord {
  std::int64_t batches = 0, epoch_batches = 0;
  double fraction = 0;
  bool saved = false;  // it beat the saved model and replaced it
  template <class Self, class F>
  static void fields(Self& r, F&& f) {
    EpochRecord::fields(r, f);
    f("batches", r.batches);
    f("epoch_batches", r.epoch_batches);
    f("fraction", r.fraction);
    f("saved", r.saved);
  }
};

// A point of the training curve: the mean train loss of the last log interval, or a validation.
struct CurvePoint {
  std::string kind;            // "train" or "valid"
  std::int64_t step = 0;       // global training step (windows trained so far)
  double epoch = 0;            // fractional epochs: epoch - 1 + batch / batches
  double loss = 0;             // mean NLL (nats per token)
  double lr = 0;
  template <class Self, class F>
  static void fields(Self& p, F&& f) {
    f("kind", p.kind);
    f("step", p.step);
    f("epoch", p.epoch);
    f("loss", p.loss);
    f("ppl", p.ppl);
    f("lr", p.lr);
  }
  double ppl = 0;  // exp(loss)
};

// Where a run is: what a resume checkpoint must carry to continue bit-exactly.
struct Position {
  std::int64_t epoch = 1;          // current epoch (1-based)
  std::int64_t batch = 0;          // next window index within the epoch
  std::int64_t global_step = 0;    // windows trained since the start of the run
  double lr = 0;
  std::optional<double> best_val;  // best end-of-epoch valid loss (decides the lr annealing)
  std::optional<double> saved_val; // valid loss of the model in --save (a partial epoch at a time
                                   // budget may have saved a better one than best_val)
  double epoch_loss_sum = 0;       // sum over this epoch's windows of loss * tokens
  std::int64_t epoch_tokens = 0;
  double epoch_seconds = 0;        // training time spent in this epoch so far
  double total_seconds = 0;        // over all invocations
  std::vector<EpochRecord> history;
  std::vector<CurvePoint> curve;
  template <class Self, class F>
  static void fields(Self& p, F&& f) {
    f("epoch", p.epoch);
    f("batch", p.batch);
    f("global_step", p.global_step);
    f("lr", p.lr);
    f("best_valid_loss", p.best_val);
    f("saved_valid_loss", p.saved_val);
    f("epoch_loss_sum", p.epoch_loss_sum);
    f("epoch_tokens", p.epoch_tokens);
    f("epoch_seconds", p.epoch_seconds);
    f("total_seconds", p.total_seconds);
    f("history", p.history);
    f("curve", p.curve, fields::Restore::IfPresent);  // files from before the curve existed lack it
  }
};

}  // namespace wordlm
