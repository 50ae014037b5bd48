// Data-parallel training without MPI: the ranks are threads, joined by an in-process Collective
// (ThreadCollective below), so the trainer's side of data parallelism (column shares, dropout
// masks of the whole batch, the gradient's denominator, sparse embedding rows, split validation,
// rank-0 writes, resume across process counts) is tested in every build, sanitizers included.
// The same properties over real MPI processes: tests/mpi/mpi_test.py (ctest label "mpi").
#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <stdexcept>
#include <cmath>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "core/collective.hpp"
#include "core/error.hpp"
#include "data/batchify.hpp"
#include "data/corpus.hpp"
#include "data/synth.hpp"
#include "helpers.hpp"
#include "io/checkpoint.hpp"
#include "train/data_parallel.hpp"
#include "train/trainer.hpp"

using namespace wordlm;

namespace {

// N threads meeting at a barrier: each publishes a pointer, all read everyone's, all go on. A
// rank that throws leaves the barrier (arrive_and_drop) and marks the hub failed, so that the
// others throw at their next meeting instead of waiting forever (as mpirun stops a job).
struct Hub {
  explicit Hub(int n) : size(n), bar(n), ptrs(static_cast<std::size_t>(n)), words(static_cast<std::size_t>(n)) {}
  int size;
  std::barrier<> bar;
  std::vector<const void*> ptrs;
  std::vector<std::uint64_t> words;
  std::atomic<bool> failed{false};
  std::atomic<int> first_failure{-1};
  std::deque<AlignedBuffer<float>> shared;  // NodeMemory's blocks (rank 0 allocates)
  void meet() {
    bar.arrive_and_wait();
    if (failed) throw std::runtime_error("a peer rank failed");
  }
};

// The ranks' memory is one process's: NodeMemory is plain memory and a barrier.
class ThreadNodeMemory : public NodeMemory {
 public:
  ThreadNodeMemory(Hub& h, int rank) : h_(h), rank_(rank) {}
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return h_.size; }
  float* allocate(std::size_t n) override {
    if (rank_ == 0) h_.ptrs[0] = h_.shared.emplace_back(n).data();
    h_.meet();
    float* p = static_cast<float*>(const_cast<void*>(h_.ptrs[0]));
    h_.meet();
    return p;
  }
  void barrier() override { h_.meet(); }

 private:
  Hub& h_;
  int rank_;
};

class ThreadCollective : public Collective {
 public:
  ThreadCollective(Hub& h, int rank, bool shared) : h_(h), rank_(rank), node_(h, rank), shared_(shared) {}
  NodeMemory* node_memory() override { return shared_ && h_.size > 1 ? &node_ : nullptr; }
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return h_.size; }
  void sum(float* v, std::size_t n) override { sum_t(v, n); }
  void sum(double* v, std::size_t n) override { sum_t(v, n); }
  std::uint64_t max(std::uint64_t v) override {
    return reduce(v, [](std::uint64_t a, std::uint64_t b) { return a > b ? a : b; });
  }
  std::uint64_t bit_or(std::uint64_t v) override {
    return reduce(v, [](std::uint64_t a, std::uint64_t b) { return a | b; });
  }
  void broadcast(void* data, std::size_t n, int root) override {
    publish(data);
    if (rank_ != root) std::memcpy(data, h_.ptrs[static_cast<std::size_t>(root)], n);
    h_.meet();
  }
  void gather(const void* mine, std::size_t n, void* all) override {
    publish(mine);
    for (int r = 0; r < h_.size; ++r) std::memcpy(static_cast<char*>(all) + r * n, h_.ptrs[static_cast<std::size_t>(r)], n);
    h_.meet();
  }
  void gather(const void* mine, const std::vector<std::size_t>& counts, void* all) override {
    publish(mine);
    std::size_t at = 0;
    for (int r = 0; r < h_.size; ++r) {
      const std::size_t n = counts[static_cast<std::size_t>(r)];
      if (n) std::memcpy(static_cast<char*>(all) + at, h_.ptrs[static_cast<std::size_t>(r)], n);
      at += n;
    }
    h_.meet();
  }

 private:
  void publish(const void* p) {
    h_.ptrs[static_cast<std::size_t>(rank_)] = p;
    h_.meet();
  }
  template <class T>
  void sum_t(T* v, std::size_t n) {  // rank order, like a reduction that is the same everywhere
    publish(v);
    std::vector<T> acc(n);
    for (int r = 0; r < h_.size; ++r) {
      const T* x = static_cast<const T*>(h_.ptrs[static_cast<std::size_t>(r)]);
      for (std::size_t i = 0; i < n; ++i) acc[i] = r == 0 ? x[i] : acc[i] + x[i];
    }
    h_.meet();
    std::copy(acc.begin(), acc.end(), v);
  }
  template <class F>
  std::uint64_t reduce(std::uint64_t v, F f) {
    h_.words[static_cast<std::size_t>(rank_)] = v;
    h_.meet();
    std::uint64_t out = h_.words[0];
    for (int r = 1; r < h_.size; ++r) out = f(out, h_.words[static_cast<std::size_t>(r)]);
    h_.meet();
    return out;
  }
  Hub& h_;
  int rank_;
  ThreadNodeMemory node_;
  bool shared_;
};

// Runs fn(collective) on n threads as ranks 0..n-1; rethrows the first rank's exception.
// shared: the ranks offer NodeMemory, as MPI processes on one machine do.
void run_ranks(int n, const std::function<void(Collective&)>& fn, bool shared = false) {
  Hub hub(n);
  std::vector<std::exception_ptr> errs(static_cast<std::size_t>(n));
  std::vector<std::thread> ts;
  for (int r = 0; r < n; ++r)
    ts.emplace_back([&, r] {
      ThreadCollective c(hub, r, shared);
      try {
        fn(c);
      } catch (...) {
        errs[static_cast<std::size_t>(r)] = std::current_exception();
        int none = -1;
        hub.first_failure.compare_exchange_strong(none, r);
        hub.failed = true;
        hub.bar.arrive_and_drop();
      }
    });
  for (auto& t : ts) t.join();
  if (hub.first_failure >= 0) std::rethrow_exception(errs[static_cast<std::size_t>(hub.first_failure.load())]);
}

Corpus small_corpus(const test::TempDir& d) {
  SynthOptions so;
  so.vocab = 60, so.fanout = 5, so.train_tokens = 30000, so.valid_tokens = 4000, so.test_tokens = 4000, so.seed = 5;
  generate_synth(d.file("syn"), so);
  return load_corpus(d.file("syn"), {});
}

TrainOptions options(const test::TempDir& d, const std::string& name) {
  TrainOptions o;
  o.model.emsize = 16, o.model.nhid = 16, o.model.nlayers = 2, o.model.dropout = 0.2f;
  o.batch = 8, o.bptt = 12, o.epochs = 1, o.threads = 1, o.log_interval = 1000000, o.max_batches = 50;
  o.save = d.file(name + ".safetensors");
  return o;
}

// shared: the ranks share memory (one machine) and --gradient-exchange is auto
TrainResult train_ranks(int n, const Corpus& c, const TrainOptions& o, EmbeddingExchange ex = EmbeddingExchange::Sparse,
                        bool shared = false) {
  TrainResult out;
  run_ranks(
      n,
      [&](Collective& coll) {
        DataParallelSync dp(coll, ex, shared ? GradientExchange::Auto : GradientExchange::Allreduce);
        TrainSeams seams;
        seams.sync = &dp;
        TrainResult r = train(c, o, seams);
        if (coll.rank() == 0) out = std::move(r);
      },
      shared);
  return out;
}

// max |a - b| / max |a| over every model tensor (the worst tensor)
double weight_gap(const Checkpoint& a, const Checkpoint& b) {
  double worst = 0;
  for (const auto& [name, t] : a.tensors) {
    const Tensor& u = b.tensor(name);
    REQUIRE(u.numel() == t.numel());
    double diff = 0, scale = 1e-30;
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      diff = std::max(diff, double(std::fabs(t.data<float>()[i] - u.data<float>()[i])));
      scale = std::max(scale, double(std::fabs(t.data<float>()[i])));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

bool same_bits(const Checkpoint& a, const Checkpoint& b) {
  for (const auto& [name, t] : a.tensors)
    if (!t.same_bytes(b.tensor(name))) return false;
  return true;
}

bool same_digits(double a, double b, int digits) {
  return std::fabs(a - b) <= 0.5 * std::pow(10.0, std::floor(std::log10(std::fabs(a))) - (digits - 1));
}

}  // namespace

TEST_CASE("a process's share of a batch is a run of whole columns", "[dist]") {
  const std::vector<std::int32_t> ids = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};
  const Batched b = batchify(ids, 4);  // column j holds ids 6j .. 6j+5
  const Batched s = select_columns(b, 1, 3);
  REQUIRE(s.cols == 2);
  REQUIRE(s.rows == 6);
  CHECK(s.row(0)[0] == 6);
  CHECK(s.row(0)[1] == 12);
  CHECK(s.row(5)[1] == 17);
}

TEST_CASE("all_or_none stops every rank with the failing rank's error", "[dist]") {
  std::vector<std::string> msgs(3);
  std::vector<int> kinds(3, -1);
  run_ranks(3, [&](Collective& c) {
    try {
      all_or_none(c, [&] {
        if (c.rank() == 1) throw Error(ErrorKind::NoInput, "corpus dir/train.txt: cannot open");
      });
    } catch (const Error& e) {
      msgs[static_cast<std::size_t>(c.rank())] = e.what();
      kinds[static_cast<std::size_t>(c.rank())] = static_cast<int>(e.kind());
    }
  });
  for (int r = 0; r < 3; ++r) {
    CHECK(msgs[static_cast<std::size_t>(r)] == "rank 1 of 3: corpus dir/train.txt: cannot open");
    CHECK(kinds[static_cast<std::size_t>(r)] == static_cast<int>(ErrorKind::NoInput));
  }
  run_ranks(2, [&](Collective& c) { all_or_none(c, [] {}); });  // nobody fails: nobody throws
}

TEST_CASE("2 ranks x B/2 columns follow 1 process x B columns", "[dist][train]") {
  test::TempDir d;
  const Corpus c = small_corpus(d);
  const TrainResult one = train_ranks(1, c, options(d, "one"));  // through the seam, one rank
  const TrainResult two = train_ranks(2, c, options(d, "two"));
  const TrainResult dense = train_ranks(2, c, options(d, "dense"), EmbeddingExchange::Dense);
  const Checkpoint a = load_checkpoint(default_resume_path(d.file("one.safetensors")));
  const Checkpoint b = load_checkpoint(default_resume_path(d.file("two.safetensors")));
  const double gap = weight_gap(a, b);
  INFO("relative weight gap after 50 batches: " << gap);
  CHECK(gap < 1e-5);
  REQUIRE(one.partial_epoch);
  REQUIRE(two.partial_epoch);
  CHECK(same_digits(one.partial_epoch->valid_ppl, two.partial_epoch->valid_ppl, 4));
  CHECK(same_digits(one.test_ppl, two.test_ppl, 4));
  CHECK(two.ranks == 2);
  CHECK(two.data_parallel["embedding_exchange"] == "sparse");
  CHECK(two.data_parallel["embedding_rows_per_step"].get<double>() <= 8.0 * 12.0);
  // 0 + g0 + g1 (sparse rows) is g0 + g1 (dense): the two exchanges give the same bits
  CHECK(same_bits(b, load_checkpoint(default_resume_path(d.file("dense.safetensors")))));
  CHECK(dense.data_parallel["embedding_exchange"] == "dense");
  // the hidden state of every column is in rank 0's resume file
  CHECK(b.extra.at("state.h").numel() == a.extra.at("state.h").numel());
}

TEST_CASE("with Adam and tied weights too, 2 ranks follow 1 process", "[dist][train]") {
  test::TempDir d;
  const Corpus c = small_corpus(d);
  for (const bool tied : {false, true}) {
    const std::string tag = tied ? "tied" : "adam";
    TrainOptions o = options(d, tag + "1");
    o.optim.kind = OptimizerKind::Adam, o.lr = 0.005, o.model.tied = tied;
    train_ranks(1, c, o);
    o.save = d.file(tag + "2.safetensors");
    const TrainResult two = train_ranks(2, c, o);
    const double gap = weight_gap(load_checkpoint(default_resume_path(d.file(tag + "1.safetensors"))),
                                  load_checkpoint(default_resume_path(o.save)));
    INFO(tag << ": relative weight gap after 50 batches: " << gap);
    CHECK(gap < 1e-5);
    CHECK(two.data_parallel["embedding_exchange"] == (tied ? "dense" : "sparse"));  // tied: the decoder's is dense
  }
}

TEST_CASE("4 ranks whose rows would outweigh a small table send the table, and still follow 1 process", "[dist][train]") {
  test::TempDir d;
  const Corpus c = small_corpus(d);  // 61 words, 16 wide: 4 ranks x ~30 distinct words each weigh more
  TrainOptions o = options(d, "one");
  o.batch = 16, o.max_batches = 30;
  train_ranks(1, c, o);
  o.save = d.file("four.safetensors");
  const TrainResult four = train_ranks(4, c, o);
  CHECK(four.data_parallel["embedding_dense_fallback_steps"].get<std::int64_t>() > 0);
  const double gap = weight_gap(load_checkpoint(default_resume_path(d.file("one.safetensors"))),
                                load_checkpoint(default_resume_path(o.save)));
  INFO("relative weight gap after 30 batches: " << gap);
  CHECK(gap < 1e-5);
}

TEST_CASE("a resume with another process count continues the same trajectory", "[dist][train]") {
  test::TempDir d;
  const Corpus c = small_corpus(d);
  TrainOptions full = options(d, "full");
  full.max_batches = 40;
  train_ranks(1, c, full);
  for (int first : {1, 2}) {
    const std::string name = "half" + std::to_string(first);
    TrainOptions p = options(d, name);
    p.max_batches = 20;
    train_ranks(first, c, p);
    TrainOptions q = options(d, name);
    q.max_batches = 20;
    apply_resume_settings(default_resume_path(p.save), q);
    train_ranks(3 - first, c, q);  // 1 -> 2 ranks, 2 -> 1
    const double gap = weight_gap(load_checkpoint(default_resume_path(full.save)),
                                  load_checkpoint(default_resume_path(q.save)));
    INFO(first << " -> " << 3 - first << " ranks: relative weight gap " << gap);
    CHECK(gap < 1e-5);
  }
}

TEST_CASE("a batch that does not split over the ranks is a usage error on every rank", "[dist]") {
  test::TempDir d;
  const Corpus c = small_corpus(d);
  TrainOptions o = options(d, "odd");  // batch 8 over 3 ranks
  std::vector<int> kinds(3, -1);
  run_ranks(3, [&](Collective& coll) {
    DataParallelSync dp(coll, EmbeddingExchange::Sparse);
    TrainSeams seams;
    seams.sync = &dp;
    try {
      train(c, o, seams);
    } catch (const Error& e) {
      kinds[static_cast<std::size_t>(coll.rank())] = static_cast<int>(e.kind());
    }
  });
  for (int k : kinds) CHECK(k == static_cast<int>(ErrorKind::Usage));
  CHECK_FALSE(std::filesystem::exists(o.save));
}

TEST_CASE("linear learning-rate scaling ramps over the warm-up and depends on the batch only", "[dist]") {
  LrScaling s;
  CHECK(s.factor(0, 80) == 1.0);  // off
  s.linear = true, s.base_batch = 20;
  CHECK(s.factor(0, 80) == 4.0);
  s.warmup_steps = 10;
  CHECK(s.factor(0, 80) == 1.0);
  CHECK(s.factor(5, 80) == Approx(2.5));
  CHECK(s.factor(10, 80) == 4.0);
  CHECK(s.factor(1000, 20) == 1.0);
}

TEST_CASE("ranks that share one copy of the parameters follow 1 process, with SGD, Adam and tied weights", "[dist][train]") {
  test::TempDir d;
  const Corpus c = small_corpus(d);
  struct Case {
    const char* tag;
    OptimizerKind kind;
    bool tied;
    int ranks, threads;
    std::int64_t emsize, nhid;
  };
  // wide37: a 61 x 37 table that is 45% of the parameters, so that with 4 ranks x 2 threads the
  // shares and the threads' parts begin and end inside the table and inside its rows (37 floats
  // wide, not a multiple of the 16-float alignment)
  for (const Case& k : {Case{"sgd", OptimizerKind::Sgd, false, 2, 1, 16, 16}, Case{"sgd3", OptimizerKind::Sgd, false, 3, 1, 16, 16},
                        Case{"adam", OptimizerKind::Adam, false, 2, 1, 16, 16}, Case{"tied", OptimizerKind::Sgd, true, 2, 1, 16, 16},
                        Case{"adamw3", OptimizerKind::AdamW, false, 3, 2, 16, 16},
                        Case{"wide37", OptimizerKind::Sgd, false, 4, 2, 37, 8},
                        Case{"wide37adam", OptimizerKind::Adam, false, 4, 2, 37, 8}}) {
    TrainOptions o = options(d, std::string(k.tag) + "-one");
    o.batch = 12, o.optim.kind = k.kind, o.model.tied = k.tied, o.threads = k.threads;
    o.model.emsize = k.emsize, o.model.nhid = k.nhid;
    if (k.kind != OptimizerKind::Sgd) o.lr = 0.005, o.optim.weight_decay = 0.01;
    const TrainResult one = train_ranks(1, c, o);
    o.save = d.file(std::string(k.tag) + "-shared.safetensors");
    const TrainResult shared = train_ranks(k.ranks, c, o, EmbeddingExchange::Sparse, /*shared=*/true);
    const double gap = weight_gap(load_checkpoint(default_resume_path(d.file(std::string(k.tag) + "-one.safetensors"))),
                                  load_checkpoint(default_resume_path(o.save)));
    INFO(k.tag << ", " << k.ranks << " ranks x " << k.threads << " threads: relative weight gap after 50 batches: " << gap);
    CHECK(gap < 1e-5);
    REQUIRE(one.partial_epoch);
    REQUIRE(shared.partial_epoch);
    CHECK(same_digits(one.partial_epoch->valid_ppl, shared.partial_epoch->valid_ppl, 4));
    CHECK(same_digits(one.test_ppl, shared.test_ppl, 4));
    CHECK(shared.data_parallel["gradient_exchange"] == "shared memory");
    CHECK(shared.data_parallel["allreduce_bytes_per_step"].get<double>() == 0.0);
  }
}

TEST_CASE("a run that shared memory resumes with another process count, Adam's moments included", "[dist][train]") {
  test::TempDir d;
  const Corpus c = small_corpus(d);
  TrainOptions full = options(d, "full");
  full.max_batches = 40, full.optim.kind = OptimizerKind::Adam, full.lr = 0.005;
  train_ranks(1, c, full);
  for (int first : {1, 2}) {
    const std::string name = "half" + std::to_string(first);
    TrainOptions p = full;
    p.save = d.file(name + ".safetensors"), p.max_batches = 20;
    train_ranks(first, c, p, EmbeddingExchange::Sparse, /*shared=*/true);
    TrainOptions q = p;
    apply_resume_settings(default_resume_path(p.save), q);
    train_ranks(3 - first, c, q, EmbeddingExchange::Sparse, /*shared=*/true);  // 1 -> 2 ranks, 2 -> 1
    const double gap = weight_gap(load_checkpoint(default_resume_path(full.save)),
                                  load_checkpoint(default_resume_path(q.save)));
    INFO(first << " -> " << 3 - first << " ranks: relative weight gap " << gap);
    CHECK(gap < 1e-5);
  }
}

TEST_CASE("a buffer moved to memory it does not own keeps its contents and size, and refuses to resize", "[dist]") {
  AlignedBuffer<float> b(5);
  for (std::size_t i = 0; i < 5; ++i) b[i] = float(i) + 0.5f;
  AlignedBuffer<float> home(8);
  b.move_to(home.data());
  CHECK_FALSE(b.owned());
  CHECK(b.data() == home.data());
  CHECK(home[4] == 4.5f);
  b.resize(5);  // the same size: nothing to do
  CHECK_THROWS_AS(b.resize(6), std::logic_error);
  AlignedBuffer<float> copy = b;  // a copy owns its memory
  CHECK(copy.owned());
  CHECK(copy[4] == 4.5f);
}
