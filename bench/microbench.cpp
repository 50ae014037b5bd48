// Micro-benchmarks of the kernels on the shapes the seed model (E256 H512 V5000) and the small
// model (E=H=200, V10k) use: int8, 4-bit and fp32 packed GEMMs at batch 1 (the recurrent GEMV,
// bandwidth-bound) and batch 10/350 (compute-bound), OpenBLAS sgemm on the same products,
// activation quantization, the LSTM cell; and this machine's peaks (BM_peak_*: the int8 cores
// and FMA on registers only), against which every GMACps reads as a fraction. The kernels run on
// the active table (WORDLM_FORCE_ISA=avx2 measures the AVX2 one on an AVX-512 machine).
// Counters: bytes of weights streamed per second ("weight_GBps") and multiply-adds per second.
#include <benchmark/benchmark.h>

#include <vector>

#include <cstdlib>
#include <filesystem>

#include "core/rng.hpp"
#include "data/corpus.hpp"
#include "io/checkpoint.hpp"
#include "kernels/kernels.hpp"
#include "model/infer.hpp"
#include "nn/blas.hpp"
#include "lmbench/bench.hpp"
#include "session/sampler.hpp"

using namespace wordlm;
using namespace wordlm::kernels;

namespace {

void BM_int8_gemm(benchmark::State& st) {
  const std::int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  Rng rng(1);
  std::vector<std::int8_t> w(static_cast<std::size_t>(N * K));
  for (auto& v : w) v = static_cast<std::int8_t>(static_cast<int>(rng.below(255)) - 127);
  std::vector<float> scale(static_cast<std::size_t>(N), 0.01f);
  PackedI8 p;
  pack_i8(w.data(), scale.data(), false, N, K, p);
  std::vector<std::uint8_t> qa(static_cast<std::size_t>(M * p.Kp), 77);
  std::vector<float> sa(static_cast<std::size_t>(M), 0.1f), y(static_cast<std::size_t>(M * N));
  std::vector<std::int32_t> zp(static_cast<std::size_t>(M), 3);
  GemmArgs a;
  a.qa = qa.data(), a.lda = p.Kp, a.M = M, a.w = &p, a.g0 = 0, a.g1 = p.groups();
  a.sa = sa.data(), a.zpa = zp.data(), a.y = y.data(), a.ldy = N, a.y_cols = N;
  const auto& t = active();
  for (auto _ : st) {
    t.gemm_f32(a);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["weight_GBps"] = benchmark::Counter(double(N * K), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GMACps"] = benchmark::Counter(double(M * N * K), benchmark::Counter::kIsIterationInvariantRate);
}

// 4-bit grouped GEMM on the same shapes (args M, N, K, G), codes in [-7, 7] as the quantizer writes.
void BM_int4_gemm(benchmark::State& st) {
  const std::int64_t M = st.range(0), N = st.range(1), K = st.range(2), G = st.range(3);
  Rng rng(1);
  std::vector<std::int8_t> w(static_cast<std::size_t>(N * K));
  for (auto& v : w) v = static_cast<std::int8_t>(static_cast<int>(rng.below(15)) - 7);
  std::vector<float> scale(static_cast<std::size_t>(N * (K / G)), 0.01f);
  PackedI4 p;
  pack_i4(w.data(), scale.data(), N, K, G, p);
  std::vector<std::uint8_t> qa(static_cast<std::size_t>(M * K), 77);
  std::vector<float> sa(static_cast<std::size_t>(M), 0.1f), y(static_cast<std::size_t>(M * N));
  std::vector<std::int32_t> zp(static_cast<std::size_t>(M), 3);
  Gemm4Args a;
  a.qa = qa.data(), a.lda = K, a.M = M, a.w = &p, a.g0 = 0, a.g1 = p.groups();
  a.sa = sa.data(), a.zpa = zp.data(), a.y = y.data(), a.ldy = N, a.y_cols = N;
  const auto& t = active();
  for (auto _ : st) {
    t.gemm4_f32(a);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["weight_GBps"] = benchmark::Counter(double(N * K) / 2, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GMACps"] = benchmark::Counter(double(M * N * K), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_fp32_packed(benchmark::State& st) {
  const std::int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  Rng rng(2);
  std::vector<float> w(static_cast<std::size_t>(N * K)), x(static_cast<std::size_t>(M * K)), y(static_cast<std::size_t>(M * N));
  for (auto& v : w) v = rng.uniform(-0.1f, 0.1f);
  for (auto& v : x) v = rng.uniform(-1, 1);
  PackedF32 p;
  pack_f32(w.data(), N, K, p);
  GemmF32Args a;
  a.x = x.data(), a.ldx = K, a.M = M, a.w = &p, a.g0 = 0, a.g1 = p.groups(), a.y = y.data(), a.ldy = N, a.y_cols = N;
  const auto& t = active();
  for (auto _ : st) {
    t.sgemm_packed(a);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["weight_GBps"] = benchmark::Counter(double(4 * N * K), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GMACps"] = benchmark::Counter(double(M * N * K), benchmark::Counter::kIsIterationInvariantRate);
}

// This machine's peaks, the rows every kernel's rate reads against (see kernels.hpp): the int8
// core (u7 x s8 -> int32, GMACps) and fp32 FMA (GMACps = 8-lane FMAs x 8), on registers only.
void BM_peak_int8(benchmark::State& st) {
  std::int32_t sink = 0;
  std::int64_t macs = 0;
  for (auto _ : st) macs = avx2_peak_i8(1 << 16, &sink);
  benchmark::DoNotOptimize(sink);
  if (macs == 0) st.SkipWithError("no AVX2");
  st.counters["GMACps"] = benchmark::Counter(double(macs), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_peak_fma(benchmark::State& st) {
  float sink = 0;
  std::int64_t macs = 0;
  for (auto _ : st) macs = avx2_peak_fma(1 << 16, &sink);
  benchmark::DoNotOptimize(sink);
  if (macs == 0) st.SkipWithError("no AVX2");
  st.counters["GMACps"] = benchmark::Counter(double(macs), benchmark::Counter::kIsIterationInvariantRate);
}

// OpenBLAS sgemm (single-threaded, as wordlm runs it) on the same product as BM_fp32_packed:
// y (M, N) = x (M, K) W^T, W (N, K) row-major; the yardstick for our fp32 kernels, and what training uses.
void BM_openblas_sgemm(benchmark::State& st) {
  const std::int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  blas::ensure_single_threaded();
  Rng rng(2);
  std::vector<float> w(static_cast<std::size_t>(N * K)), x(static_cast<std::size_t>(M * K)), y(static_cast<std::size_t>(M * N));
  for (auto& v : w) v = rng.uniform(-0.1f, 0.1f);
  for (auto& v : x) v = rng.uniform(-1, 1);
  for (auto _ : st) {
    blas::gemm<float>(false, true, M, N, K, 1.0f, x.data(), K, w.data(), K, 0.0f, y.data(), N);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GMACps"] = benchmark::Counter(double(M * N * K), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_peak_vnni(benchmark::State& st) {
  std::int32_t sink = 0;
  std::int64_t macs = 0;
  for (auto _ : st) macs = avx512_peak_vnni(1 << 16, &sink);
  benchmark::DoNotOptimize(sink);
  if (macs == 0) st.SkipWithError("no AVX-512 VNNI");
  st.counters["GMACps"] = benchmark::Counter(double(macs), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_peak_fma512(benchmark::State& st) {
  float sink = 0;
  std::int64_t macs = 0;
  for (auto _ : st) macs = avx512_peak_fma(1 << 16, &sink);
  benchmark::DoNotOptimize(sink);
  if (macs == 0) st.SkipWithError("no AVX-512");
  st.counters["GMACps"] = benchmark::Counter(double(macs), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_quantize_row(benchmark::State& st) {
  const std::int64_t K = st.range(0);
  Rng rng(3);
  std::vector<float> x(static_cast<std::size_t>(K));
  for (auto& v : x) v = rng.uniform(-2, 3);
  std::vector<std::uint8_t> q(static_cast<std::size_t>(K));
  const auto& t = active();
  for (auto _ : st) {
    float lo, hi;
    t.minmax(x.data(), K, &lo, &hi);
    const auto p = qparams_u7(lo, hi);
    t.quantize_u7(x.data(), K, p.inv_scale, p.zp, q.data());
    benchmark::DoNotOptimize(q.data());
  }
}

void BM_lstm_cell(benchmark::State& st) {
  const std::int64_t n = st.range(0);
  std::vector<float> z(static_cast<std::size_t>(4 * n), 0.3f), c(static_cast<std::size_t>(n), 0.1f), h(static_cast<std::size_t>(n));
  const auto& t = active();
  for (auto _ : st) {
    std::fill(z.begin(), z.end(), 0.3f);
    t.lstm_fwd(n, z.data(), z.data() + n, z.data() + 2 * n, z.data() + 3 * n, c.data(), c.data(), h.data(), nullptr);
    benchmark::DoNotOptimize(h.data());
  }
}

// Checkpoint I/O on the seed model (30.1 MB fp32): atomic write (temp, fsync, rename) and read
// with full validation; "load" adds building the inference model (packing).
std::string seed_file() {
  static const std::string path = [] {
    const std::string p = (std::filesystem::temp_directory_path() / "wordlm-bench-seed.safetensors").string();
    wordlm::preset_model("seed", p);
    return p;
  }();
  return path;
}

// One draw of the sampler over a V-token distribution shaped like a trained LM's (log-normal-ish
// logits): args V, top-k (0: off), top-p in percent (100: off).
void BM_sampler(benchmark::State& st) {
  const std::int64_t V = st.range(0);
  Rng rng(3);
  std::vector<float> z(static_cast<std::size_t>(V));
  for (auto& v : z) v = 3.0f * (rng.uniform() + rng.uniform() + rng.uniform() - 1.5f);
  Sampler s({.top_k = st.range(1), .top_p = double(st.range(2)) / 100.0, .seed = 1});
  for (auto _ : st) benchmark::DoNotOptimize(s.sample(z.data(), V));
}

void BM_checkpoint_write(benchmark::State& st) {
  const Checkpoint ck = load_checkpoint(seed_file());
  const std::string out = seed_file() + ".out";
  for (auto _ : st) save_checkpoint(out, ck);
  st.counters["MBps"] = benchmark::Counter(double(ck.tensor_bytes()) / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  std::filesystem::remove(out);
}

void BM_checkpoint_read(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(load_checkpoint(seed_file()));
}

void BM_model_load(benchmark::State& st) {
  for (auto _ : st) {
    const Checkpoint ck = load_checkpoint(seed_file());
    benchmark::DoNotOptimize(InferenceModel::from_checkpoint(ck));
  }
}

// Corpus loading: set WORDLM_BENCH_CORPUS to a corpus folder (e.g. data/brown) to time it.
void BM_corpus_load(benchmark::State& st) {
  const char* dir = std::getenv("WORDLM_BENCH_CORPUS");
  if (!dir) {
    st.SkipWithError("set WORDLM_BENCH_CORPUS to a corpus folder");
    return;
  }
  for (auto _ : st) benchmark::DoNotOptimize(load_corpus(dir, {}));
}

}  // namespace

BENCHMARK(BM_checkpoint_write)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_checkpoint_read)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_model_load)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_corpus_load)->Unit(benchmark::kMillisecond);

// seed model: W_hh 2048x512 (GEMV per step), W_ih 2048x256 / 2048x512, decoder 5000x512
BENCHMARK(BM_peak_int8);
BENCHMARK(BM_peak_fma);
BENCHMARK(BM_peak_vnni);
BENCHMARK(BM_peak_fma512);
BENCHMARK(BM_int8_gemm)->Args({1, 2048, 512})->Args({10, 2048, 256})->Args({10, 5000, 512})->Args({350, 10000, 200})->Args({10, 800, 200})->Args({1, 800, 200})->Args({10, 10000, 200})->Args({1, 10000, 200});
BENCHMARK(BM_int4_gemm)->Args({1, 2048, 512, 64})->Args({10, 2048, 256, 64})->Args({10, 5000, 512, 64})->Args({350, 10000, 200, 40})->Args({10, 800, 200, 40})->Args({1, 800, 200, 40})->Args({10, 10000, 200, 40})->Args({1, 10000, 200, 40});
BENCHMARK(BM_fp32_packed)->Args({1, 2048, 512})->Args({10, 2048, 256})->Args({10, 5000, 512})->Args({350, 10000, 200})->Args({10, 800, 200})->Args({560, 5000, 512})->Args({16, 2048, 512})->Args({700, 10000, 200});
BENCHMARK(BM_openblas_sgemm)->Args({1, 2048, 512})->Args({10, 2048, 256})->Args({10, 5000, 512})->Args({350, 10000, 200})->Args({10, 800, 200})->Args({560, 5000, 512})->Args({16, 2048, 512})->Args({700, 10000, 200});
BENCHMARK(BM_quantize_row)->Arg(200)->Arg(512);
BENCHMARK(BM_lstm_cell)->Arg(512);
BENCHMARK(BM_sampler)->Args({10000, 0, 100})->Args({10000, 40, 100})->Args({10000, 40, 90})->Args({10000, 0, 90});
BENCHMARK_MAIN();
