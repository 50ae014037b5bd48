// evaluate() and compare().
#include "model/eval.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "data/batchify.hpp"
#include "fmt/format.h"

namespace wordlm {

namespace {
Batched batch_for_eval(std::span<const std::int32_t> ids, const EvalOptions& opt) {
  if (opt.batch < 1) throw_usage("eval batch size must be at least 1");
  if (opt.bptt < 1) throw_usage("bptt must be at least 1");
  Batched b = batchify(ids, opt.batch);
  if (b.rows < 2)
    throw_data(fmt::format("the split has {} tokens: too few for batch size {} (need at least {})", ids.size(),
                           opt.batch, 2 * opt.batch));
  return b;
}
}  // namespace

EvalResult evaluate(const InferenceModel& model, std::span<const std::int32_t> ids, const EvalOptions& opt, ThreadPool& pool) {
  Batched data = batch_for_eval(ids, opt);
  if (opt.col_begin != 0 || (opt.col_end >= 0 && opt.col_end != opt.batch))
    data = select_columns(data, opt.col_begin, opt.col_end < 0 ? opt.batch : opt.col_end);
  EvalResult r;
  if (data.cols == 0) return r;  // an empty share
  InferenceModel::State st;
  st.reset(model.config(), data.cols);
  std::vector<double> nll(static_cast<std::size_t>(opt.bptt * data.cols));
  Timer timer;
  const std::int64_t nw = num_windows(data.rows, opt.bptt);
  for (std::int64_t w = 0; w < nw; ++w) {
    const Window win = window(data.rows, opt.bptt, w);
    model.forward(data.row(win.start), win.seq_len, st, pool, InferenceModel::Post::Nll, data.row(win.start + 1), nll.data());
    for (std::int64_t i = 0; i < win.seq_len * data.cols; ++i) r.nll.add(nll[static_cast<std::size_t>(i)]);
    if (opt.progress) opt.progress(w + 1, nw);
  }
  r.seconds = timer.seconds();
  r.tokens = r.nll.n;
  if (!std::isfinite(r.nll.sum)) throw_data("perplexity is not finite: the model produces NaN or Inf");
  return r;
}

CompareResult compare(const InferenceModel& other, const InferenceModel& base, std::span<const std::int32_t> ids,
                      const EvalOptions& opt, ThreadPool& pool) {
  if (other.config().vocab_size != base.config().vocab_size)
    throw_usage("the two models have different vocabulary sizes");
  const Batched data = batch_for_eval(ids, opt);
  InferenceModel::State sa, sb;
  sa.reset(other.config(), opt.batch);
  sb.reset(base.config(), opt.batch);
  const std::int64_t V = base.config().vocab_size;
  CompareResult r;
  Timer timer;
  const std::int64_t nw = num_windows(data.rows, opt.bptt);
  r.kld.reserve(static_cast<std::size_t>(data.cols * (data.rows - 1)));
  for (std::int64_t w = 0; w < nw; ++w) {
    const Window win = window(data.rows, opt.bptt, w);
    const std::int32_t* tgt = data.row(win.start + 1);
    base.forward(data.row(win.start), win.seq_len, sb, pool, InferenceModel::Post::LogSoftmax);
    other.forward(data.row(win.start), win.seq_len, sa, pool, InferenceModel::Post::LogSoftmax);
    const float* lb = sb.output();
    const float* lo = sa.output();
    for (std::int64_t m = 0; m < win.seq_len * opt.batch; ++m) {
      const float* pb = lb + m * V;
      const float* po = lo + m * V;
      double kl = 0;
      std::int64_t ab = 0, ao = 0;
      for (std::int64_t v = 0; v < V; ++v) {
        kl += std::exp(double(pb[v])) * (double(pb[v]) - double(po[v]));
        if (pb[v] > pb[ab]) ab = v;
        if (po[v] > po[ao]) ao = v;
      }
      r.kld.push_back(std::max(kl, 0.0));
      r.top1_same += ab == ao;
      r.base.add(-double(pb[tgt[m]]));
      r.other.add(-double(po[tgt[m]]));
    }
    if (opt.progress) opt.progress(w + 1, nw);
  }
  r.tokens = r.base.n;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace wordlm
