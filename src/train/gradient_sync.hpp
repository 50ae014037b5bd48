// GradientSync: the seam between backward and the optimizer step, where data-parallel training
// combines the gradients of several processes (MPI allreduce, issue: "Scale out"). The trainer
// calls synchronize() once per window after the model's backward, before clipping and the
// optimizer; the gradient it returns is what clipping and the update see. The base class keeps
// this process's gradient and loss as they are (single-process training).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/threads.hpp"

namespace wordlm {

// What one training window was, for the synchronization.
struct SyncStep {
  std::int64_t global_step = 0;       // windows trained before this one
  std::int64_t tokens = 0;            // tokens this process predicted in the window
  const std::int32_t* inputs = nullptr;  // this process's input ids (tokens of them)
};

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // grads (n floats): on entry the gradient of this process's mean loss over step.tokens; on
  // return the gradient the update must use. loss: this process's mean loss; returns the loss
  // to log and check for divergence.
  virtual double synchronize(float* grads, std::size_t n, double loss, const SyncStep& step, ThreadPool& pool) {
    (void)grads, (void)n, (void)step, (void)pool;
    return loss;
  }
};

}  // namespace wordlm
