// ThreadPool implementation: workers spin briefly on a generation counter (so back-to-back
// regions, e.g. one per decoded token, cost no system call) and then sleep on atomic wait.
#include "core/threads.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WORDLM_PAUSE() _mm_pause()
#else
#define WORDLM_PAUSE() ((void)0)
#endif

namespace wordlm {

namespace {
constexpr int kSpinBeforeSleep = 20000;   // ~0.1-0.5 ms of pause instructions
constexpr int kSpinBeforeYield = 4000;
}  // namespace

int hardware_threads() noexcept {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int nthreads) : n_(nthreads < 1 ? 1 : nthreads) {
  threads_.reserve(static_cast<std::size_t>(n_ - 1));
  for (int t = 1; t < n_; ++t) threads_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  gen_.fetch_add(1, std::memory_order_release);
  gen_.notify_all();
  for (auto& th : threads_) th.join();
}

void ThreadPool::worker(int tid) {
  std::uint32_t seen = 0;
  for (;;) {
    int spins = 0;
    std::uint32_t g;
    while ((g = gen_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinBeforeSleep) {
        WORDLM_PAUSE();
      } else {
        gen_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    try {
      (*job_)(tid, n_);
    } catch (...) {
      std::lock_guard<std::mutex> lk(err_mu_);
      if (!err_) err_ = std::current_exception();
      aborted_.store(true, std::memory_order_release);
      bar_gen_.fetch_add(1, std::memory_order_release);  // wake threads asleep in barrier()
      bar_gen_.notify_all();
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  err_ = nullptr;
  aborted_.store(false, std::memory_order_relaxed);
  bar_count_.store(0, std::memory_order_relaxed);
  pending_.store(n_ - 1, std::memory_order_relaxed);
  gen_.fetch_add(1, std::memory_order_release);
  gen_.notify_all();
  try {
    fn(0, n_);
  } catch (...) {
    std::lock_guard<std::mutex> lk(err_mu_);
    if (!err_) err_ = std::current_exception();
    aborted_.store(true, std::memory_order_release);
    bar_gen_.fetch_add(1, std::memory_order_release);
    bar_gen_.notify_all();
  }
  int spins = 0;
  int p;
  while ((p = pending_.load(std::memory_order_acquire)) != 0) {
    if (++spins < kSpinBeforeSleep) {
      WORDLM_PAUSE();
    } else {
      pending_.wait(p, std::memory_order_acquire);
    }
  }
  job_ = nullptr;
  if (err_) {
    auto e = err_;
    err_ = nullptr;
    std::rethrow_exception(e);
  }
}

void ThreadPool::barrier() noexcept {
  if (n_ == 1) return;
  const std::uint32_t g = bar_gen_.load(std::memory_order_acquire);
  if (bar_count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
    bar_count_.store(0, std::memory_order_relaxed);
    bar_gen_.fetch_add(1, std::memory_order_release);
    bar_gen_.notify_all();  // only costs a system call when someone sleeps
    return;
  }
  int spins = 0;
  while (bar_gen_.load(std::memory_order_acquire) == g) {
    if (aborted_.load(std::memory_order_relaxed)) return;
    ++spins;
    if (spins < kSpinBeforeYield) {
      WORDLM_PAUSE();
    } else if (spins < 2 * kSpinBeforeYield) {
      std::this_thread::yield();
    } else {
      // more threads than free cores: stop burning the CPU the others need
      bar_gen_.wait(g, std::memory_order_acquire);
    }
  }
}

}  // namespace wordlm
