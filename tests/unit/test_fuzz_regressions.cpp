// Replays the fuzz seeds and every input a fuzzer ever found (fuzz/regressions/) through the fuzz
// targets' bodies, so fixed findings stay fixed in every test run (no clang needed). Run under the
// sanitizer build (scripts/test.sh --sanitize) this also checks them for UB and leaks.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "../../fuzz/targets.hpp"
#include "helpers.hpp"
#include "kernels/kernels.hpp"

using namespace wordlm;

namespace {
std::vector<std::uint8_t> bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
}  // namespace

TEST_CASE("fuzz seeds and regression inputs replay cleanly", "[fuzz]") {
  namespace fs = std::filesystem;
  const fs::path root = test::source_dir();
  int n = 0;
  for (const char* dir : {"fuzz/seeds/checkpoint", "fuzz/regressions"})
    for (const auto& e : fs::directory_iterator(root / dir)) {
      const auto b = bytes(e.path());
      INFO(e.path());
      fuzz::checkpoint_one(b.data(), b.size());
      ++n;
    }
  for (const auto& e : fs::directory_iterator(root / "fuzz/seeds/corpus")) {
    const auto b = bytes(e.path());
    fuzz::corpus_one(b.data(), b.size());
    ++n;
  }
  CHECK(n >= 12);
}

TEST_CASE("an activation range that underflows the scale quantizes to zeros", "[fuzz][kernels]") {
  // fuzz_checkpoint finding: |x| ~ 1e-40 made scale 0, 1/scale inf, then NaN -> int (UB)
  const auto q = kernels::qparams_u7(-1e-40f, 2e-40f);
  CHECK(q.scale == 1.0f);
  CHECK(q.zp == 0);
  std::vector<float> x{-1e-40f, 2e-40f, 0.0f, 1e-41f};
  std::vector<std::uint8_t> out(4, 99);
  for (auto isa : {kernels::Isa::Scalar, kernels::Isa::Avx2}) {
    if (isa == kernels::Isa::Avx2 && !kernels::cpu_has_avx2_fma()) continue;
    kernels::table(isa).quantize_u7(x.data(), 4, q.inv_scale, q.zp, out.data());
    for (auto v : out) CHECK(v == 0);
  }
}
