// PhaseTimer: accumulates wall time per named phase of a loop (recorded by one thread, at
// barriers, so a phase's time is the slowest thread's). Off unless enabled; when off, mark()
// costs one branch. Used by lm-train --profile to say where a training step spends its time.
#pragma once

#include <string>
#include <vector>

#include "core/timer.hpp"

namespace wordlm {

class PhaseTimer {
 public:
  void enable(bool on) { on_ = on; }
  bool enabled() const noexcept { return on_; }
  void start() {
    if (on_) last_ = now_seconds();
  }
  // Closes the current phase under `name` and starts the next.
  void mark(const char* name) {
    if (!on_) return;
    const double t = now_seconds();
    for (auto& p : phases_)
      if (p.first == name) {
        p.second += t - last_;
        last_ = t;
        return;
      }
    phases_.emplace_back(name, t - last_);
    last_ = t;
  }
  const std::vector<std::pair<std::string, double>>& phases() const noexcept { return phases_; }
  void reset() { phases_.clear(); }

 private:
  bool on_ = false;
  double last_ = 0;
  std::vector<std::pair<std::string, double>> phases_;
};

}  // namespace wordlm
