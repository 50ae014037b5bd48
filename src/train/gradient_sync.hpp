// GradientSync: the seam between backward and the optimizer step, where data-parallel training
// combines the gradients of several processes (train/data_parallel.hpp over MPI, issue "Scale
// out"). The trainer calls synchronize() once per window after the model's backward, before
// clipping and the optimizer; the gradient it returns is what clipping and the update see, so
// clipping uses the norm of the combined gradient. The processes themselves are its collective():
// the trainer splits the batch's columns by rank, reduces validation statistics, agrees on when
// to stop and lets rank 0 alone write through it. The base class is one process alone: it keeps
// this process's gradient and loss as they are (single-process training, bit-identical to a
// build without the seam).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/collective.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "nlohmann/json.hpp"

namespace wordlm {

template <class T>
class LstmLM;
class Optimizer;

// Where the embedding's gradient lies in the flat gradient: a (rows, width) table at `offset`.
// sparse: only the rows of the window's input ids can be non-zero there (untied weights, no
// weight transform on it), so a sync may exchange just those rows.
struct EmbeddingRows {
  std::size_t offset = 0;
  std::int64_t rows = 0, width = 0;
  bool sparse = false;
};

// What one training window was, for the synchronization.
struct SyncStep {
  std::int64_t global_step = 0;          // windows trained before this one
  std::int64_t tokens = 0;               // tokens this process predicted in the window
  std::int64_t batch_tokens = 0;         // tokens of the whole batch, every process's (the loss's denominator)
  const std::int32_t* inputs = nullptr;  // this process's input ids (tokens of them)
  EmbeddingRows embedding;
};

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // The processes whose gradients this combines (the base: this one alone).
  virtual Collective& collective() { return alone_; }
  // grads (n floats): on entry this process's share of the gradient of the batch's mean loss
  // (its tokens' NLL sum divided by step.batch_tokens, LstmLM::set_column_slice); on return the
  // gradient the update must use, the same bits on every process. loss: this process's mean loss
  // over step.tokens; returns the batch's mean loss, which is logged and checked for divergence.
  virtual double synchronize(float* grads, std::size_t n, double loss, const SyncStep& step, ThreadPool& pool) {
    (void)grads, (void)n, (void)step, (void)pool;
    return loss;
  }
  // Processes on one machine may keep one copy of the parameters in memory they share
  // (DataParallelSync over train/shared_update.hpp). The trainer calls attach() once, after the
  // processes agree on the parameters and the optimizer state; when it returns true, synchronize()
  // combines the loss only, and update() replaces optimizer.step(): it sums the gradients, clips by
  // the norm of the sum and updates the parameters, and returns that norm before clipping.
  virtual bool attach(LstmLM<float>& model, Optimizer& opt) {
    (void)model, (void)opt;
    return false;
  }
  // How the gradient is combined, for the log ("" when there is nothing to say).
  virtual std::string describe() const { return ""; }
  virtual double update(float lr, double clip, ThreadPool& pool) {
    (void)lr, (void)clip, (void)pool;
    throw_internal("GradientSync::update() without attach()");
  }
  // What the synchronization did and cost, for the report (null: nothing to report).
  virtual nlohmann::json report() const { return nullptr; }

 private:
  Collective alone_;
};

}  // namespace wordlm
