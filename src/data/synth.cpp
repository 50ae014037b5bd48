// Markov source and corpus generation.
#include "data/synth.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/sha256.hpp"
#include "nlohmann/json.hpp"

namespace wordlm {

MarkovSource::MarkovSource(const SynthOptions& o) : V_(o.vocab) {
  if (o.vocab < 3) throw_usage("synthetic vocabulary must be at least 3");
  if (o.fanout < 1 || o.fanout >= o.vocab) throw_usage("fanout must be in 1..vocab-1");
  if (!(o.eos_prob > 0 && o.eos_prob < 1)) throw_usage("eos probability must be in (0, 1)");
  Rng rng(o.seed);
  next_.resize(static_cast<std::size_t>(V_));
  prob_.resize(static_cast<std::size_t>(V_));
  for (std::int64_t s = 0; s < V_; ++s) {
    auto& nx = next_[static_cast<std::size_t>(s)];
    auto& pr = prob_[static_cast<std::size_t>(s)];
    while (static_cast<std::int64_t>(nx.size()) < o.fanout) {
      const auto c = static_cast<std::int32_t>(1 + rng.below(static_cast<std::uint64_t>(V_ - 1)));
      if (std::find(nx.begin(), nx.end(), c) == nx.end()) nx.push_back(c);
    }
    double z = 0;
    for (std::int64_t k = 0; k < o.fanout; ++k) z += 1.0 / std::pow(double(k + 1), o.zipf);
    const double words = s == kEos ? 1.0 : 1.0 - o.eos_prob;  // no empty sentences
    for (std::int64_t k = 0; k < o.fanout; ++k) pr.push_back(words / std::pow(double(k + 1), o.zipf) / z);
    if (s != kEos) nx.push_back(kEos), pr.push_back(o.eos_prob);
  }
}

std::string MarkovSource::word(std::int32_t id) const { return id == kEos ? "<eos>" : "w" + std::to_string(id); }

std::int32_t MarkovSource::sample(std::int32_t prev, Rng& rng) const {
  const auto& pr = prob_[static_cast<std::size_t>(prev)];
  double u = rng.uniform_double(), acc = 0;
  for (std::size_t k = 0; k < pr.size(); ++k) {
    acc += pr[k];
    if (u < acc) return next_[static_cast<std::size_t>(prev)][k];
  }
  return next_[static_cast<std::size_t>(prev)].back();
}

double MarkovSource::logprob(std::int32_t prev, std::int32_t next) const {
  const auto& nx = next_[static_cast<std::size_t>(prev)];
  for (std::size_t k = 0; k < nx.size(); ++k)
    if (nx[k] == next) return std::log(prob_[static_cast<std::size_t>(prev)][k]);
  return -std::numeric_limits<double>::infinity();
}

nlohmann::json generate_synth(const std::string& out_dir, const SynthOptions& o) {
  namespace fs = std::filesystem;
  const MarkovSource src(o);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(ErrorKind::CantCreate, "cannot create " + out_dir + ": " + ec.message());
  Rng rng(o.seed ^ 0xC0FFEEull);
  nlohmann::json result = {{"vocab", o.vocab}, {"fanout", o.fanout}, {"zipf", o.zipf}, {"eos_prob", o.eos_prob},
                           {"seed", o.seed}, {"splits", nlohmann::json::object()}};
  const std::pair<const char*, std::int64_t> splits[3] = {{"train", o.train_tokens}, {"valid", o.valid_tokens}, {"test", o.test_tokens}};
  for (const auto& [name, want] : splits) {
    std::string out;
    std::int64_t tokens = 0, lines = 0;
    double nll = 0;
    std::int32_t prev = MarkovSource::kEos;
    bool line_start = true;
    while (tokens < want || prev != MarkovSource::kEos) {  // finish the last sentence
      const std::int32_t nx = src.sample(prev, rng);
      nll -= src.logprob(prev, nx);
      ++tokens;
      if (nx == MarkovSource::kEos) {
        out += '\n';
        ++lines;
        line_start = true;
      } else {
        if (!line_start) out += ' ';
        out += src.word(nx);
        line_start = false;
      }
      prev = nx;
    }
    write_file_atomic((fs::path(out_dir) / (std::string(name) + ".txt")).string(), out);
    result["splits"][name] = {{"tokens", tokens}, {"lines", lines}, {"sha256", sha256_hex(out)},
                              {"source_nll", nll / double(tokens)}, {"source_ppl", std::exp(nll / double(tokens))}};
  }
  return result;
}

}  // namespace wordlm
