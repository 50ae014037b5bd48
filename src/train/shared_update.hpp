// SharedUpdate: data-parallel processes on one machine with one copy of the parameters (issue
// "Scale out"; measured in docs/scaling.md). Two processes on two cores that each hold the
// parameters, send their whole gradient through MPI and each run the optimizer over all of it
// repeat work that one process with two threads splits between its threads: the exchange and a
// second optimizer cost the seed-size model 15 ms of a 120 ms step here. So when every process of
// the run is on this machine, they keep in memory they share (NodeMemory: MPI-3 shared windows):
//   - one copy of the parameters and of Adam's moments, which every process reads;
//   - one gradient slot per process, which its own backward writes (model.grads is a view of it);
// and after backward:
//   1. process r sums its share of every slot, in slot order (so the bits do not depend on which
//      process adds them), into slot 0, and the squares of its share; the processes' squares,
//      added in process order, are the whole gradient's squared norm (clipping uses it);
//   2. process r updates its share of the parameters (and moments); after a barrier every
//      process reads the new parameters.
// With the packed kernels (AVX-512), the decoder's two packed layouts are shared too: after the
// update each process packs its part of the panels, where each process packed all of them in its
// forward and backward (LstmLM::pack_decoder).
// Both passes zero what they have read of the slots (the sum the other slots, the update slot 0),
// so the next backward finds its slot zeroed and skips its own memset of the whole gradient.
// A process's share: an equal part of everything but the embedding table, and of the table's
// rows, rows [rV/N, (r+1)V/N), or when only some rows are touched (below) the touched rows whose id
// is r mod N (frequent words have small ids: a contiguous range would load process 0 most). The
// table is kept out of the equal split because with sparse rows it costs little: measured here,
// a plain split gave the process holding the table a fraction of the other's work and a wait.
// The embedding's gradient (untied, no weight transform) is non-zero only in the rows of the
// window's words: each process publishes its distinct input ids (note_inputs) and step 1 sums just
// the rows some process touched (the others are zero in every slot, so neither the sum nor the norm
// changes), and with plain SGD without weight decay step 2 updates just those rows too (p - lr * 0
// is p). The gradient never travels and each of N processes runs 1/N of the optimizer. N processes still
// follow one process with B columns up to the order of float sums (the slot sum, the norm's
// partial sums), as over MPI's allreduce. Across machines (node_memory() is null) the gradient
// goes through DataParallelSync's allreduce instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/collective.hpp"
#include "core/threads.hpp"
#include "model/lstm_lm.hpp"
#include "train/gradient_sync.hpp"
#include "train/optim.hpp"

namespace wordlm {

class SharedUpdate {
 public:
  // Collective over the machine's processes, once they hold the same parameters and optimizer
  // state: moves model.params, model.grads (this process's slot) and the optimizer's moments into
  // memory from `mem`; the model and the optimizer then use it until the run ends.
  SharedUpdate(NodeMemory& mem, LstmLM<float>& model, Optimizer& opt);
  // Bytes of shared memory that makes for `processes` processes (blocks as allocated, 64 bytes of
  // alignment each).
  static std::size_t bytes_needed(const LstmLM<float>& model, const Optimizer& opt, int processes);
  // Before step(): this window's input ids (the embedding rows whose gradient may be non-zero),
  // when the embedding's gradient is sparse (SyncStep), else the whole table is summed.
  void note_inputs(const SyncStep& step);
  // Collective, after every process's backward: sums the gradients, clips by the norm of the sum
  // and updates the parameters; returns that norm before clipping (the same on every process).
  double step(float lr, double clip, ThreadPool& pool);

  double reduce_seconds() const noexcept { return reduce_seconds_; }  // step 1 (with its barrier wait)
  double update_seconds() const noexcept { return update_seconds_; }  // step 2 (with its barrier wait)

 private:
  NodeMemory& mem_;
  LstmLM<float>& model_;
  Optimizer& opt_;
  std::size_t n_, stride_;  // floats of the gradient; of a slot (a multiple of 16)
  float* params_;           // (n)
  float* slots_;            // (processes, stride): slot p is process p's gradient
  double* squares_;         // (processes): each process's part of the squared norm
  std::vector<std::pair<std::int64_t, std::int64_t>> dense_;  // this process's share outside the table (flat ranges)
  std::int64_t v0_ = 0, v1_ = 0;  // its rows of the table when all are summed or updated
  std::vector<double> partial_;  // per thread of this process
  // the embedding table [emb0_, emb1_) of the flat buffers, rows of width_ floats
  std::size_t emb0_ = 0, emb1_ = 0;
  std::int64_t width_ = 0, vocab_ = 0;
  std::int32_t* ids_ = nullptr;  // (processes, 1 + vocab): a count, then that many distinct ids (-1: all rows)
  std::vector<std::uint8_t> mark_;     // (vocab) rows some process touched
  std::vector<std::int64_t> rows_;     // this step's touched rows this process sums (kept: no allocation per step)
  bool sparse_ = false;  // this step: only the touched rows of the table are summed
  bool prepacked_ = false;  // the model's packed decoder is shared, packed here after each update
  using Segments = std::vector<std::pair<std::int64_t, std::int64_t>>;
  Segments sum_, update_;  // this step's flat ranges to sum (step 1) and to update (step 2)
  // f(tid, s0, s1) over segs, their floats split evenly over the pool's threads
  template <class F>
  static void run_segments(const Segments& segs, ThreadPool& pool, F&& f);
  double reduce_seconds_ = 0, update_seconds_ = 0;
};

}  // namespace wordlm
