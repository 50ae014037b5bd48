// DataParallelSync: allreduce of the dense gradient, gather of the embedding rows, and the
// helpers that move per-column state between the whole batch and one process's share.
#include "train/data_parallel.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "fmt/format.h"

namespace wordlm {

const char* exchange_name(EmbeddingExchange e) noexcept { return e == EmbeddingExchange::Sparse ? "sparse" : "dense"; }

EmbeddingExchange parse_exchange(const std::string& s) {
  if (s == "sparse") return EmbeddingExchange::Sparse;
  if (s == "dense") return EmbeddingExchange::Dense;
  throw_usage("embedding exchange must be sparse or dense, not '" + s + "'");
}

GradientExchange parse_gradient_exchange(const std::string& s) {
  if (s == "auto") return GradientExchange::Auto;
  if (s == "allreduce") return GradientExchange::Allreduce;
  throw_usage("gradient exchange must be auto or allreduce, not '" + s + "'");
}

DataParallelSync::DataParallelSync(Collective& c, EmbeddingExchange exchange, GradientExchange gradients)
    : c_(c), exchange_(exchange), gradients_(gradients) {}

DataParallelSync::~DataParallelSync() = default;

bool DataParallelSync::attach(LstmLM<float>& model, Optimizer& opt) {
  NodeMemory* mem = gradients_ == GradientExchange::Auto ? c_.node_memory() : nullptr;
  if (!mem) return false;
  const std::size_t need = SharedUpdate::bytes_needed(model, opt, mem->size()), have = mem->available_bytes();
  if (c_.bit_or(have < need + need / 8 ? 1 : 0)) {  // all decide alike
    not_shared_ = fmt::format("gradients: allreduce, since the machine's shared memory (/dev/shm) has {:.0f} MB free "
                              "and sharing the parameters needs {:.0f} MB (a container may need --shm-size)",
                              double(have) / 1e6, double(need) / 1e6);
    return false;
  }
  shared_ = std::make_unique<SharedUpdate>(*mem, model, opt);
  return true;
}

std::string DataParallelSync::describe() const {
  if (shared_) return "gradients: one copy of the parameters in this machine's shared memory, each process sums and updates its share";
  if (!not_shared_.empty()) return not_shared_;
  return fmt::format("gradients: allreduce, embedding exchange {}", exchange_name(exchange_));
}

double DataParallelSync::update(float lr, double clip, ThreadPool& pool) {
  WORDLM_CHECK(shared_, "update() without shared memory");
  return shared_->step(lr, clip, pool);
}

double DataParallelSync::synchronize(float* grads, std::size_t n, double loss, const SyncStep& step, ThreadPool& pool) {
  (void)pool;
  Timer t;
  double total[2] = {loss * double(step.tokens), double(step.tokens)};  // NLL sum, tokens
  c_.sum(total, 2);  // the first meeting of the step: it also waits for the slowest process
  wait_seconds_ += t.seconds();
  if (shared_) {  // the gradient stays where it is: update() sums it in place
    shared_->note_inputs(step);
    ++steps_;
    return total[0] / total[1];
  }
  const EmbeddingRows& e = step.embedding;
  bool sparse = exchange_ == EmbeddingExchange::Sparse && e.sparse;
  const std::size_t table = static_cast<std::size_t>(e.rows * e.width);
  table_bytes_ = double(sizeof(float) * table);
  if (sparse) {
    t.reset();
    sparse = exchange_rows(grads + e.offset, step);
    sparse_seconds_ += t.seconds();
    ++(sparse ? sparse_steps_ : fallback_steps_);
  }
  t.reset();
  if (!sparse) {
    c_.sum(grads, n);
    dense_bytes_ += double(sizeof(float) * n);
  } else {  // everything but the table
    const std::size_t end = e.offset + table;
    if (e.offset) c_.sum(grads, e.offset);
    if (end < n) c_.sum(grads + end, n - end);
    dense_bytes_ += double(sizeof(float) * (n - table));
  }
  dense_seconds_ += t.seconds();
  ++steps_;
  return total[0] / total[1];
}

// Block of one process: U ids (int32 bits in floats), then U rows of width floats.
bool DataParallelSync::exchange_rows(float* table, const SyncStep& step) {
  const std::int64_t W = step.embedding.width;
  ids_.assign(step.inputs, step.inputs + step.tokens);
  std::sort(ids_.begin(), ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
  const std::size_t U = ids_.size();
  mine_.resize(U * static_cast<std::size_t>(1 + W));
  std::memcpy(mine_.data(), ids_.data(), sizeof(float) * U);
  for (std::size_t k = 0; k < U; ++k)
    std::memcpy(mine_.data() + U + k * W, table + ids_[k] * W, sizeof(float) * static_cast<std::size_t>(W));
  const std::uint64_t u = U;
  counts_.resize(static_cast<std::size_t>(c_.size()));
  c_.gather(&u, sizeof u, counts_.data());
  bytes_.resize(counts_.size());
  std::size_t floats = 0;
  for (std::size_t r = 0; r < counts_.size(); ++r) {
    bytes_[r] = sizeof(float) * static_cast<std::size_t>(counts_[r] * (1 + W));
    floats += counts_[r] * (1 + W);
  }
  // every process's rows would outweigh the table in a ring allreduce (2 x its size): send that
  // (many processes, a small vocabulary); every process decides alike, from the same counts
  if (floats > 2 * static_cast<std::size_t>(step.embedding.rows * W)) return false;
  all_.resize(floats);
  c_.gather(mine_.data(), bytes_, all_.data());
  sparse_bytes_ += double(sizeof u + sizeof(float) * mine_.size());
  // zero every exchanged row, then add the processes' rows in rank order (the same on all)
  for (int pass = 0; pass < 2; ++pass) {
    const float* blk = all_.data();
    for (const std::uint64_t cnt : counts_) {
      const float* rows = blk + cnt;
      for (std::uint64_t k = 0; k < cnt; ++k) {
        std::int32_t id;
        std::memcpy(&id, blk + k, sizeof id);
        WORDLM_CHECK(id >= 0 && id < step.embedding.rows, "embedding row out of range");
        float* dst = table + id * W;
        if (pass == 0) std::fill(dst, dst + W, 0.0f);
        else
          for (std::int64_t i = 0; i < W; ++i) dst[i] += rows[k * W + i];
      }
      if (pass == 1) sparse_rows_ += double(cnt);
      blk = rows + cnt * W;
    }
  }
  return true;
}

nlohmann::json DataParallelSync::report() const {
  const double s = steps_ ? double(steps_) : 1.0, ss = sparse_steps_ ? double(sparse_steps_) : 1.0;
  if (shared_)
    return {{"ranks", c_.size()},
            {"gradient_exchange", "shared memory"},
            {"embedding_exchange", "shared memory"},
            {"steps", steps_},
            {"wait_ms_per_step", 1e3 * wait_seconds_ / s},
            {"exchange_ms_per_step", 1e3 * shared_->reduce_seconds() / s},
            {"shared_sum_ms_per_step", 1e3 * shared_->reduce_seconds() / s},
            {"shared_update_ms_per_step", 1e3 * shared_->update_seconds() / s},
            {"allreduce_bytes_per_step", 0.0},
            {"embedding_bytes_sent_per_step", 0.0}};
  return {{"ranks", c_.size()},
          {"gradient_exchange", "allreduce"},
          {"embedding_exchange", sparse_steps_ ? "sparse" : "dense"},
          {"steps", steps_},
          {"embedding_dense_fallback_steps", fallback_steps_},
          {"wait_ms_per_step", 1e3 * wait_seconds_ / s},
          {"exchange_ms_per_step", 1e3 * (dense_seconds_ + sparse_seconds_) / s},
          {"allreduce_ms_per_step", 1e3 * dense_seconds_ / s},
          {"embedding_gather_ms_per_step", 1e3 * sparse_seconds_ / ss},
          {"allreduce_bytes_per_step", dense_bytes_ / s},
          {"embedding_bytes_sent_per_step", sparse_bytes_ / ss},
          {"embedding_rows_per_step", sparse_rows_ / ss},
          {"embedding_table_bytes", table_bytes_}};
}

std::pair<std::int64_t, std::int64_t> column_share(std::int64_t n, const Collective& c) {
  return split_range(n, c.rank(), c.size());
}

void take_columns(const ModelConfig& cfg, const LstmLM<float>::Hidden& whole, std::int64_t col0,
                  LstmLM<float>::Hidden& mine) {
  const std::int64_t L = cfg.nlayers, H = cfg.nhid, b = mine.batch, B = whole.batch;
  WORDLM_CHECK(col0 >= 0 && col0 + b <= B && whole.h.size() == static_cast<std::size_t>(L * B * H) &&
                   mine.h.size() == static_cast<std::size_t>(L * b * H),
               "hidden state shapes");
  const std::size_t row = sizeof(float) * static_cast<std::size_t>(b * H);
  for (std::int64_t l = 0; l < L; ++l) {
    std::memcpy(mine.h.data() + l * b * H, whole.h.data() + (l * B + col0) * H, row);
    std::memcpy(mine.c.data() + l * b * H, whole.c.data() + (l * B + col0) * H, row);
  }
}

void gather_columns(Collective& c, const ModelConfig& cfg, const LstmLM<float>::Hidden& mine,
                    LstmLM<float>::Hidden& whole) {
  const std::int64_t L = cfg.nlayers, H = cfg.nhid, b = mine.batch, B = whole.batch, N = c.size();
  const std::size_t n = static_cast<std::size_t>(L * b * H);
  WORDLM_CHECK(B == b * N && mine.h.size() == n && whole.h.size() == n * static_cast<std::size_t>(N), "hidden state shapes");
  std::vector<float> all(n * static_cast<std::size_t>(N));
  for (int which = 0; which < 2; ++which) {
    const AlignedBuffer<float>& src = which ? mine.c : mine.h;
    AlignedBuffer<float>& dst = which ? whole.c : whole.h;
    c.gather(src.data(), sizeof(float) * n, all.data());
    // process r's (L, b, H) block -> columns [r b, (r + 1) b) of every layer
    for (std::int64_t r = 0; r < N; ++r)
      for (std::int64_t l = 0; l < L; ++l)
        std::memcpy(dst.data() + (l * B + r * b) * H, all.data() + static_cast<std::size_t>(r) * n + l * b * H,
                    sizeof(float) * static_cast<std::size_t>(b * H));
  }
}

std::uint64_t digest(const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = mix64(n + 0x9E3779B97F4A7C15ull);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = mix64(h ^ w) + i;
  }
  for (; i < n; ++i) h = mix64(h ^ p[i]);
  return h;
}

void check_same(Collective& c, std::uint64_t d, ErrorKind kind, const std::string& message) {
  if (c.size() == 1) return;
  const std::uint64_t hi = c.max(d), lo = c.min(d);
  if (hi != lo) throw Error(kind, fmt::format("{} (digests differ between processes: this one, rank {}, has {:016x})", message, c.rank(), d));
}

}  // namespace wordlm
