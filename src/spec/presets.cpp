// The presets table.
#include "spec/presets.hpp"

#include "core/error.hpp"

namespace wordlm {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = {
      // The seed blog's model: random weights, the latency workload of the int8 comparison.
      {"seed", "vocab 5000, embed 256, hidden 512, 2 layers: the seed blog's model (latency workload)",
       {5000, 256, 512, 2, false, 0.0f}},
      // pytorch/examples defaults: ~2x200. PTB: ~140 test ppl after 40 epochs; Brown 10k: see docs.
      {"small", "vocab 10000, embed 200, hidden 200, 2 layers, dropout 0.2: pytorch/examples defaults",
       {10000, 200, 200, 2, false, 0.2f}},
      // Zaremba et al. "medium" (2x650, dropout 0.5): PTB ~82 test ppl with 39 epochs, hours on CPU.
      {"medium", "vocab 10000, embed 650, hidden 650, 2 layers, dropout 0.5: Zaremba medium",
       {10000, 650, 650, 2, false, 0.5f}},
  };
  return all;
}

const Preset& preset(const std::string& name) {
  std::string known;
  for (const auto& p : presets()) {
    if (name == p.name) return p;
    known += known.empty() ? "" : ", ";
    known += p.name;
  }
  throw_usage("unknown preset '" + name + "' (known: " + known + ")");
}

}  // namespace wordlm
