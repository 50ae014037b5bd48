// Synchronous data-parallel training (Horovod's and Marian's scheme) over a Collective: every
// process holds the same parameters, runs its contiguous share of the batch's columns with its
// own hidden state, and DataParallelSync combines the gradients after each backward:
//   - the dense gradient (LSTM, decoder) is summed with one allreduce; each process's share is
//     already divided by the whole batch's token count (LstmLM::set_column_slice), so the sum is
//     the whole batch's gradient, and clipping then sees the global norm;
//   - the embedding's gradient touches at most tokens rows per process: with untied weights only
//     those rows travel (ids and rows, gathered from every process and added in rank order)
//     instead of the whole (V, E) table, unless all processes' rows together would outweigh the
//     table in the allreduce (many processes, small vocabulary): then that step sends the table;
//     EmbeddingExchange::Dense always sends the table (to measure);
//   - the loss is the token-weighted mean over processes;
//   - when every process is on one machine, none of the above travels: they share one copy of the
//     parameters and read each other's gradients in place (train/shared_update.hpp).
// N processes with B/N columns each thus follow the trajectory of one process with B columns, up
// to the order of float sums. Every process adds the same numbers in the same order, so their
// parameters stay bit-identical (check_same() verifies it at epoch ends; with shared memory they
// are one copy, and the check cannot fail).
//
// The helpers below move what is per column between the whole batch and one process's share:
// the hidden state of a resume checkpoint, and the columns of an evaluation.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "core/collective.hpp"
#include "core/timer.hpp"
#include "model/lstm_lm.hpp"
#include "train/gradient_sync.hpp"
#include "train/shared_update.hpp"

namespace wordlm {

enum class EmbeddingExchange { Sparse, Dense };
const char* exchange_name(EmbeddingExchange e) noexcept;  // "sparse", "dense"
EmbeddingExchange parse_exchange(const std::string& s);    // throws Usage

// How the gradient is combined: Auto shares memory when every process is on one machine
// (train/shared_update.hpp) and uses the allreduce otherwise; Allreduce always sends it.
enum class GradientExchange { Auto, Allreduce };
GradientExchange parse_gradient_exchange(const std::string& s);  // throws Usage

class DataParallelSync : public GradientSync {
 public:
  DataParallelSync(Collective& c, EmbeddingExchange exchange, GradientExchange gradients = GradientExchange::Auto);
  ~DataParallelSync() override;
  Collective& collective() override { return c_; }
  double synchronize(float* grads, std::size_t n, double loss, const SyncStep& step, ThreadPool& pool) override;
  bool attach(LstmLM<float>& model, Optimizer& opt) override;
  std::string describe() const override;
  double update(float lr, double clip, ThreadPool& pool) override;
  // per step: time waiting for the other processes and in the exchange, bytes this process sent,
  // rows of the embedding exchanged (every process's)
  nlohmann::json report() const override;

 private:
  // every process's rows of the embedding gradient, added in rank order into `table`; false
  // (nothing exchanged) when they would outweigh the table, which is then summed whole
  bool exchange_rows(float* table, const SyncStep& step);

  Collective& c_;
  EmbeddingExchange exchange_;
  GradientExchange gradients_;
  std::unique_ptr<SharedUpdate> shared_;  // after attach() on one machine
  std::string not_shared_;                // why not, when the machine's shared memory is too small
  std::vector<std::int32_t> ids_;  // this step's distinct input ids, sorted
  std::vector<float> mine_, all_;  // [ids as bits | rows] of this process / of all, in rank order
  std::vector<std::uint64_t> counts_;
  std::vector<std::size_t> bytes_;
  // measurements over the run
  std::int64_t steps_ = 0, sparse_steps_ = 0, fallback_steps_ = 0;
  double dense_seconds_ = 0, sparse_seconds_ = 0;
  double wait_seconds_ = 0;  // the step's first collective (the loss): mostly waiting for the slowest process
  double dense_bytes_ = 0, sparse_bytes_ = 0, sparse_rows_ = 0, table_bytes_ = 0;
};

// This process's share [begin, end) of n columns: contiguous, rank order (split_range).
std::pair<std::int64_t, std::int64_t> column_share(std::int64_t n, const Collective& c);

// Hidden state (L, B, H) of the whole batch <-> this process's columns (L, b, H), b = B / size.
void take_columns(const ModelConfig& cfg, const LstmLM<float>::Hidden& whole, std::int64_t col0,
                  LstmLM<float>::Hidden& mine);
// Collective: every process's columns into `whole` (reset to the whole batch by the caller).
void gather_columns(Collective& c, const ModelConfig& cfg, const LstmLM<float>::Hidden& mine,
                    LstmLM<float>::Hidden& whole);

// A 64-bit digest of n bytes (not cryptographic: tells equal buffers from different ones).
std::uint64_t digest(const void* data, std::size_t n) noexcept;
// Collective: throws Error(kind, message + rank 0's and this process's digests) unless every
// process passed the same digest.
void check_same(Collective& c, std::uint64_t digest, ErrorKind kind, const std::string& message);

}  // namespace wordlm
