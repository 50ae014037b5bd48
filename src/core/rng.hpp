// Random numbers. Rng (xoshiro256**, seeded through splitmix64) draws initial weights in a fixed
// sequential order. Dropout uses counter_uniform(): a stateless hash of (seed, stream, index), so
// masks depend only on the step and position, never on thread count or scheduling, and a resumed
// run reproduces them from the counters alone.
#pragma once

#include <array>
#include <cstdint>

namespace wordlm {

inline std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits, from (key, index); key already mixes seed and stream.
inline float counter_uniform(std::uint64_t key, std::uint64_t index) noexcept {
  std::uint64_t z = mix64(key ^ mix64(index + 0x632BE59BD9B4E019ull));
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

inline std::uint64_t stream_key(std::uint64_t seed, std::uint64_t stream) noexcept {
  return mix64(seed * 0x9E3779B97F4A7C15ull ^ mix64(stream));
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }
  void reseed(std::uint64_t seed) noexcept {
    std::uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
  }
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0], s_[3] ^= s_[1], s_[1] ^= s_[2], s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  float uniform() noexcept { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  double uniform_double() noexcept { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  float uniform(float lo, float hi) noexcept { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n) (n > 0), by rejection so it is exactly uniform.
  std::uint64_t below(std::uint64_t n) noexcept {
    const std::uint64_t lim = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t v;
    do v = next();
    while (v >= lim);
    return v % n;
  }
  std::array<std::uint64_t, 4> state() const noexcept { return s_; }
  void set_state(const std::array<std::uint64_t, 4>& s) noexcept { s_ = s; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

}  // namespace wordlm
