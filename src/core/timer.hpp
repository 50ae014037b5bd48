// Wall-clock timing on the steady clock.
#pragma once

#include <chrono>

namespace wordlm {

inline double now_seconds() noexcept {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

class Timer {
 public:
  Timer() : t0_(now_seconds()) {}
  void reset() noexcept { t0_ = now_seconds(); }
  double seconds() const noexcept { return now_seconds() - t0_; }
  double ms() const noexcept { return seconds() * 1e3; }

 private:
  double t0_;
};

}  // namespace wordlm
