// Replays the fuzz seeds and every input a fuzzer ever found (fuzz/regressions/) through the fuzz
// targets' bodies, so fixed findings stay fixed in every test run (no clang needed). Run under the
// sanitizer build (step 2 of scripts/test.sh) this also checks them for UB and leaks.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "../../fuzz/targets.hpp"
#include "helpers.hpp"
#include "kernels/kernels.hpp"
#include "qscheme/scheme.hpp"
#include <limits>

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

TEST_CASE("review findings: pathological headers and metadata are refused before parsing", "[fuzz]") {
  // 200k nested arrays in a safetensors header: refused by the depth pre-scan, no deep tree built
  std::string deep = "{\"a\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  deep.append((8 - deep.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[static_cast<std::size_t>(i)] = static_cast<char>((deep.size() >> (8 * i)) & 0xFF);
  file += deep;
  try {
    parse_safetensors({reinterpret_cast<const std::byte*>(file.data()), file.size()});
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.code() == CheckpointErrc::HeaderNotJson);
    CHECK_THAT(e.what(), Catch::Contains("levels deep"));
  }
  // deeply nested metadata JSON: refused as BadMetadata
  const std::string seed_path = test::source_dir() + "/fuzz/seeds/checkpoint/fp32.safetensors";
  Safetensors st = read_safetensors(seed_path);
  st.metadata["provenance"] = std::string(5000, '[') + std::string(5000, ']');
  try {
    checkpoint_from_safetensors(std::move(st), "t");
    FAIL("expected rejection");
  } catch (const CheckpointError& e) {
    CHECK(e.code() == CheckpointErrc::BadMetadata);
  }
  // dropout far outside float range in the config
  Safetensors st2 = read_safetensors(seed_path);
  st2.metadata["config"] = R"({"vocab_size":6,"emsize":4,"nhid":3,"nlayers":1,"tied":false,"dropout":1e300})";
  CHECK_THROWS_AS(checkpoint_from_safetensors(std::move(st2), "t"), CheckpointError);
}

TEST_CASE("review findings: NaN activations and tiny weight rows quantize without undefined behaviour", "[fuzz][kernels]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x{1.0f, nan, -2.0f};
  for (auto isa : {kernels::Isa::Scalar, kernels::Isa::Avx2}) {
    if (isa == kernels::Isa::Avx2 && !kernels::cpu_has_avx2_fma()) continue;
    std::vector<std::uint8_t> q(3, 99);
    kernels::table(isa).quantize_u7(x.data(), 3, 10.0f, 20, q.data());
    CHECK(q[1] == 0);  // NaN -> -1024 + zp -> clamped to 0, same on both paths
  }
  std::vector<float> w{1e-44f, -1e-44f, 0.0f, 1e-44f};
  const auto qw = quantize_weight(w.data(), 1, 4, WeightGranularity::PerRow, "w");
  CHECK(qw.scale[0] == 1.0f);
  for (auto v : qw.q) CHECK(v == 0);
}
