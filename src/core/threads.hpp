// ThreadPool: a fixed team of threads that runs one function on every member at once
// (fork-join, caller is thread 0) plus a spin barrier for lock-step loops such as the LSTM's
// time steps. wordlm owns all of its parallelism: OpenBLAS is kept single-threaded and each
// thread calls it on its own slice, so two thread pools never fight over the cores.
//
// Limits: fn must not throw across a barrier() it shares with others (kernels report errors by
// status and the caller throws after the region); if it does, barrier() stops blocking so every
// thread can leave, and run() rethrows the first exception.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace wordlm {

class ThreadPool {
 public:
  explicit ThreadPool(int nthreads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const noexcept { return n_; }
  // Runs fn(tid, nthreads) on all threads; returns when all have finished.
  void run(const std::function<void(int, int)>& fn);
  // Blocks until every thread of the current run() has reached it. Only valid inside run().
  void barrier() noexcept;

 private:
  void worker(int tid);
  int n_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<std::uint32_t> gen_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> bar_count_{0};
  std::atomic<std::uint32_t> bar_gen_{0};
  std::atomic<bool> aborted_{false};
  std::mutex err_mu_;
  std::exception_ptr err_;
};

// [begin, end) of thread tid's share of n items, in chunks that are multiples of `align`
// (the last chunk takes the remainder). Deterministic: depends only on (n, tid, nt, align).
inline std::pair<std::int64_t, std::int64_t> split_range(std::int64_t n, int tid, int nt,
                                                         std::int64_t align = 1) noexcept {
  const std::int64_t units = (n + align - 1) / align;
  const std::int64_t per = units / nt, rem = units % nt;
  const std::int64_t u0 = tid * per + (tid < rem ? tid : rem);
  const std::int64_t u1 = u0 + per + (tid < rem ? 1 : 0);
  std::int64_t b = u0 * align, e = u1 * align;
  if (b > n) b = n;
  if (e > n) e = n;
  return {b, e};
}

// One member's view of a running team: which thread this is, how many there are, and the pool
// whose barrier they share. Layers and kernels take a Team instead of (tid, nt, pool) triples.
struct Team {
  int tid = 0, nt = 1;
  ThreadPool* pool = nullptr;
  void barrier() const noexcept { pool->barrier(); }
  // this member's share of n items (see split_range)
  std::pair<std::int64_t, std::int64_t> share(std::int64_t n, std::int64_t align = 1) const noexcept {
    return split_range(n, tid, nt, align);
  }
  bool leader() const noexcept { return tid == 0; }
};

// Number of hardware threads (at least 1).
int hardware_threads() noexcept;

}  // namespace wordlm
