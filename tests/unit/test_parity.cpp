// Golden parity with PyTorch (architecture.md example 8). scripts/pytorch_golden.py wrote a tiny
// RNNModel and PyTorch's logits, loss, final hidden state and gradients for one window; here the
// training model and the inference engine must reproduce them (logits <= 1e-5 absolute,
// gradients <= 1e-4 relative to each tensor's largest element). And a PyTorch-trained model
// converted by scripts/import_pytorch.py must evaluate to PyTorch's test perplexity.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "core/threads.hpp"
#include "data/corpus.hpp"
#include "helpers.hpp"
#include "io/checkpoint.hpp"
#include "model/convert.hpp"
#include "model/eval.hpp"
#include "model/infer.hpp"
#include "model/lstm_lm.hpp"
#include "nlohmann/json.hpp"

using namespace wordlm;

namespace {

std::string fixture(const std::string& name) { return test::source_dir() + "/tests/fixtures/" + name; }

double max_abs_diff(const float* a, const float* b, std::int64_t n) {
  double m = 0;
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
  return m;
}

void golden_case(const std::string& name, int threads) {
  const Checkpoint ck = load_checkpoint(fixture("golden_" + name + ".model.safetensors"));
  const Safetensors ex = read_safetensors(fixture("golden_" + name + ".expect.safetensors"));
  const auto& cfg = ck.config;
  const Tensor& input = *ex.find("input");
  const std::int64_t T = input.dim(0), B = input.dim(1), V = cfg.vocab_size;
  const std::int32_t* in = input.data<std::int32_t>();
  const std::int32_t* tgt = ex.find("target")->data<std::int32_t>();
  ThreadPool pool(threads);

  LstmLM<float> m(cfg);
  load_model_params(m, ck);
  LstmLM<float>::Hidden h;
  h.reset(cfg, B);
  std::copy_n(ex.find("h0")->data<float>(), h.h.size(), h.h.data());
  std::copy_n(ex.find("c0")->data<float>(), h.c.size(), h.c.data());
  auto h_start = h;
  const double loss = m.forward(in, tgt, T, h, 0, pool);
  INFO("fixture " << name << " threads " << threads);
  CHECK(loss == Approx(ex.find("loss")->data<float>()[0]).epsilon(1e-6));
  CHECK(max_abs_diff(m.logits(), ex.find("logits")->data<float>(), T * B * V) <= 1e-5);
  CHECK(max_abs_diff(h.h.data(), ex.find("hn")->data<float>(), static_cast<std::int64_t>(h.h.size())) <= 1e-5);
  CHECK(max_abs_diff(h.c.data(), ex.find("cn")->data<float>(), static_cast<std::int64_t>(h.c.size())) <= 1e-5);

  // gradients
  auto h2 = h_start;
  m.forward(in, tgt, T, h2, 0, pool);
  m.backward(in, tgt, pool);
  for (const auto& s : m.specs()) {
    const Tensor* g = ex.find("grad." + s.name);
    REQUIRE(g != nullptr);
    REQUIRE(static_cast<std::size_t>(g->numel()) == s.numel);
    double scale = 0;
    for (float v : g->values<float>()) scale = std::max(scale, double(std::abs(v)));
    const double rel = max_abs_diff(m.grads.data() + s.offset, g->data<float>(), g->numel()) / scale;
    INFO("gradient of " << s.name << ": max relative difference " << rel);
    CHECK(rel <= 1e-4);
  }

  // the inference engine: same logits, log-probabilities, final state
  InferenceModel im = InferenceModel::from_checkpoint(ck);
  InferenceModel::State st;
  st.reset(cfg, B);
  std::copy_n(ex.find("h0")->data<float>(), st.h.size(), st.h.data());
  std::copy_n(ex.find("c0")->data<float>(), st.c.size(), st.c.data());
  im.forward(in, T, st, pool, InferenceModel::Post::LogSoftmax);
  CHECK(max_abs_diff(st.output(), ex.find("logprobs")->data<float>(), T * B * V) <= 1e-5);
  CHECK(max_abs_diff(st.h.data(), ex.find("hn")->data<float>(), static_cast<std::int64_t>(st.h.size())) <= 1e-5);
  CHECK(max_abs_diff(st.c.data(), ex.find("cn")->data<float>(), static_cast<std::int64_t>(st.c.size())) <= 1e-5);
}

}  // namespace

TEST_CASE("golden parity with PyTorch: untied model", "[parity]") {
  golden_case("untied", 1);
  golden_case("untied", 2);
}

TEST_CASE("golden parity with PyTorch: tied model", "[parity]") {
  golden_case("tied", 1);
  golden_case("tied", 2);
}

TEST_CASE("an imported PyTorch model evaluates to PyTorch's test perplexity", "[parity]") {
  const Checkpoint ck = load_checkpoint(fixture("import_model.safetensors"));
  std::ifstream f(fixture("import_expect.json"));
  const auto expect = nlohmann::json::parse(f);
  const Vocab vocab(ck.vocab);
  const Split test = load_split(find_split_file(fixture("import_corpus"), "test"), "test", vocab, false);
  InferenceModel im = InferenceModel::from_checkpoint(ck);
  ThreadPool pool(2);
  EvalOptions eo;
  eo.batch = expect["eval_batch_size"].get<std::int64_t>();
  eo.bptt = expect["bptt"].get<std::int64_t>();
  const EvalResult r = evaluate(im, test.ids, eo, pool);
  const double want = expect["test_ppl"].get<double>();
  INFO("wordlm " << r.nll.ppl() << " PyTorch " << want);
  CHECK(std::abs(r.nll.ppl() - want) / want < 5e-5);  // 4 significant digits
}
