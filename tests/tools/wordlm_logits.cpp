// wordlm_logits: a test-only program (not installed) that runs a checkpoint over token windows
// and writes what scripts/ort_verify.py compares with ONNX Runtime: per predicted token the
// natural-log probability of the target and the argmax, and the full logits of the first windows.
// It is wordlm's side of the ONNX export check; scripts/ort_run.mjs writes the same files for ORT.
//
//   wordlm_logits -m MODEL --ids IDS --targets TGT --steps T --batch B [--full K] --out PREFIX [-t N]
//     IDS, TGT  raw little-endian int32 [W, T, B]: W windows run in order, the state carried
//     PREFIX.lp.f64     [W*T*B] log p(target), float64 (log-sum-exp in double over float logits)
//     PREFIX.top1.i32   [W*T*B] argmax of the logits (the lowest id among equal maxima)
//     PREFIX.logits.f32 [K*T*B, V] logits of the first K windows (default 2)
// Exit codes as the tools: 64 usage, 65 bad data, 66 missing input, 73/74 output errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "io/checkpoint.hpp"
#include "model/infer.hpp"

using namespace wordlm;

namespace {

std::vector<std::int32_t> read_ids(const std::string& path, std::int64_t want, std::int64_t V) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::NoInput, path + ": cannot open");
  std::vector<std::int32_t> v(static_cast<std::size_t>(want));
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(want * 4));
  if (f.gcount() != want * 4 || f.peek() != EOF)
    throw_data(path + ": size is not windows x steps x batch int32 values");
  for (auto id : v)
    if (id < 0 || id >= V) throw_data(path + ": token id " + std::to_string(id) + " outside the vocabulary");
  return v;
}

template <class T>
void write_raw(const std::string& path, const std::vector<T>& v) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(ErrorKind::CantCreate, path + ": cannot create");
  const bool ok = std::fwrite(v.data(), sizeof(T), v.size(), f) == v.size();
  if (std::fclose(f) != 0 || !ok) throw Error(ErrorKind::Io, path + ": write failed");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wordlm_logits (test tool): a checkpoint's log p(target), argmax and logits over token windows", "wordlm_logits"};
  std::string model, ids_path, tgt_path, out;
  std::int64_t steps = 0, batch = 0, full = 2;
  int threads = 1;
  app.add_option("-m,--model", model, "Checkpoint")->required();
  app.add_option("--ids", ids_path, "Input ids, int32 [W, T, B]")->required();
  app.add_option("--targets", tgt_path, "Target ids, int32 [W, T, B]")->required();
  app.add_option("--steps", steps, "T")->required();
  app.add_option("--batch", batch, "B")->required();
  app.add_option("--full", full, "Windows whose full logits are written")->capture_default_str();
  app.add_option("--out", out, "Output prefix")->required();
  app.add_option("-t,--threads", threads, "Threads")->capture_default_str();
  cli::setup_app(app, "");
  return cli::run(app, argc, argv, [&]() -> int {
    if (steps < 1 || batch < 1 || full < 0 || threads < 1) throw_usage("--steps, --batch, --threads must be >= 1, --full >= 0");
    const Checkpoint ck = load_checkpoint(model);
    const InferenceModel m = InferenceModel::from_checkpoint(ck);
    const std::int64_t V = ck.config.vocab_size, per = steps * batch;
    std::ifstream probe(ids_path, std::ios::binary | std::ios::ate);
    if (!probe) throw Error(ErrorKind::NoInput, ids_path + ": cannot open");
    const std::int64_t W = static_cast<std::int64_t>(probe.tellg()) / (4 * per);
    if (W < 1) throw_data(ids_path + ": shorter than one window");
    const auto ids = read_ids(ids_path, W * per, V), tgt = read_ids(tgt_path, W * per, V);
    std::vector<double> lp(static_cast<std::size_t>(W * per));
    std::vector<std::int32_t> top1(lp.size());
    std::vector<float> logits;
    ThreadPool pool(threads);
    InferenceModel::State st;
    st.reset(ck.config, batch);
    for (std::int64_t w = 0; w < W; ++w) {
      m.forward(ids.data() + w * per, steps, st, pool, InferenceModel::Post::Logits);
      const float* y = st.output();
      for (std::int64_t r = 0; r < per; ++r) {
        const float* row = y + r * V;
        const std::int64_t best = std::max_element(row, row + V) - row;
        double sum = 0;
        for (std::int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - double(row[best]));
        const std::size_t i = static_cast<std::size_t>(w * per + r);
        lp[i] = double(row[tgt[i]]) - double(row[best]) - std::log(sum);
        top1[i] = static_cast<std::int32_t>(best);
      }
      if (w < full) logits.insert(logits.end(), y, y + per * V);
    }
    write_raw(out + ".lp.f64", lp);
    write_raw(out + ".top1.i32", top1);
    write_raw(out + ".logits.f32", logits);
    return 0;
  });
}
